#!/usr/bin/env node
// Adds lockfile entries for optional platform packages that the npm registry mirror of our
// machines does not serve (it 404s darwin, win32, android and musl builds of biome, buf and
// turbo). `npm install` then leaves them out of package-lock.json and `npm ci` refuses the
// lock as out of sync. An entry with its platform (os/cpu/libc) lets `npm ci` pass: on Linux
// x64 those packages are skipped anyway, elsewhere npm fetches them by version.
// Run after `npm install`: node scripts/complete-lockfile.mjs
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";

const lockPath = resolve(import.meta.dirname, "..", "package-lock.json");
const lock = JSON.parse(readFileSync(lockPath, "utf8"));
const packages = lock.packages;

function platformOf(name) {
  const os = ["darwin", "win32", "windows", "android", "linux", "freebsd"].find((o) => name.includes(o));
  const cpu = ["arm64", "armv7", "x64", "64"].find((c) => name.endsWith(c) || name.includes(`-${c}-`));
  const entry = {};
  if (os) entry.os = [os === "windows" ? "win32" : os];
  if (cpu) entry.cpu = [cpu === "armv7" ? "arm" : cpu === "64" ? "x64" : cpu];
  if (name.includes("-musl")) entry.libc = ["musl"];
  return entry;
}

let added = 0;
for (const [path, meta] of Object.entries(packages)) {
  const optional = meta.optionalDependencies ?? {};
  for (const [name, range] of Object.entries(optional)) {
    const key = `node_modules/${name}`;
    if (packages[key] !== undefined || packages[`${path}/${key}`] !== undefined) continue;
    if (!/^\d+\.\d+\.\d+/.test(range)) throw new Error(`${name}: expected an exact version, got ${range}`);
    packages[key] = {
      version: range,
      ...(meta.dev ? { dev: true } : {}),
      optional: true,
      ...platformOf(name),
    };
    added++;
  }
}
const sorted = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a.localeCompare(b))),
);
lock.packages = sorted;
writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`complete-lockfile: added ${added} platform entries`);
