#!/usr/bin/env node
// Builds the package in the current directory the way connect-es and protobuf-es ship theirs:
// ESM in dist/esm and CommonJS in dist/cjs, each with its own declarations, so that both
// `import` and `require` (and TypeScript's node10 resolution) find code and types.
//
//   node build-package.mjs [esm tsconfig] [cjs tsconfig]
//   (defaults: tsconfig.build.json tsconfig.build.cjs.json)
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";

const [esmProject = "tsconfig.build.json", cjsProject = "tsconfig.build.cjs.json"] = process.argv.slice(2);
const dist = resolve("dist");
const cjsMarker = join(dist, "cjs", "package.json");

// The workspace's pinned TypeScript, wherever npm hoisted it.
const tsc = createRequire(join(process.cwd(), "package.json")).resolve("typescript/bin/tsc");

function compile(project) {
  return new Promise((done) => {
    const child = spawn(process.execPath, [tsc, "-p", project, "--listEmittedFiles"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk) => {
      output += chunk;
    });
    child.stderr.on("data", (chunk) => {
      output += chunk;
    });
    child.on("close", (code) => done({ project, code, output }));
  });
}

// The two builds share no output, so they run side by side; each one's messages print as a block.
const results = await Promise.all([compile(esmProject), compile(cjsProject)]);
const emitted = new Set([cjsMarker]);
let failed = false;
for (const { project, code, output } of results) {
  const messages = [];
  for (const line of output.split("\n")) {
    if (line.startsWith("TSFILE: ")) emitted.add(resolve(line.slice("TSFILE: ".length).trim()));
    else if (line.trim() !== "") messages.push(line);
  }
  if (messages.length > 0) console.log(messages.join("\n"));
  if (code !== 0) {
    console.error(`tsc -p ${project} failed (exit ${code})`);
    failed = true;
  }
}
if (failed) process.exit(1);

// Node picks a .js file's format from the nearest package.json, and the package's own says
// "module". Bundlers also read the nearest one for sideEffects, so it is repeated here.
mkdirSync(join(dist, "cjs"), { recursive: true });
writeFileSync(cjsMarker, `${JSON.stringify({ type: "commonjs", sideEffects: false }, null, 2)}\n`);

// Anything tsc did not write now (an older layout, a deleted source) would be packed and published.
// Pruning afterwards, rather than emptying dist first, keeps two builds running at once in the same
// tree (a watch and a lint, say) from deleting each other's output.
function prune(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      prune(path);
      if (readdirSync(path).length === 0) rmSync(path, { recursive: true });
    } else if (!emitted.has(path)) {
      rmSync(path);
    }
  }
}
prune(dist);
