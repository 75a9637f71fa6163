#!/usr/bin/env node
// Tests the packages as users install them: `npm pack` for every publishable workspace, an empty
// app outside the workspace that installs the tarballs, then, against an etcd started here, one real
// call through each package from an ES module (`import`) and from CommonJS (`require`), and a
// TypeScript compile of a small app under module nodenext and under module commonjs (node10
// resolution). The workspace's own tests run the sources; this is the only place the published
// `exports`, `files` and declarations are exercised.
//
//   npm run build && node scripts/pack-test.mjs
//
// Prints one line per check and exits 1 if any failed. ETCD_BIN names the etcd binary (default
// `etcd` on PATH).
import { spawn } from "node:child_process";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const fixtures = join(import.meta.dirname, "pack-test-app");
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
const started = performance.now();

let failures = 0;
let checks = 0;
/** What the cleanup must stop: etcd once spawned, and the commands still running. */
const state = { etcd: undefined, children: new Set() };

function pass(name) {
  checks++;
  console.log(`ok   ${name} (${seconds(performance.now() - started)})`);
}

function fail(name, detail) {
  checks++;
  failures++;
  console.log(`FAIL ${name}${detail ? `\n${indent(detail)}` : ""}`);
}

function seconds(ms) {
  return `${(ms / 1000).toFixed(1)}s`;
}

function indent(text) {
  return text
    .trimEnd()
    .split("\n")
    .map((line) => `     ${line}`)
    .join("\n");
}

function readJson(path) {
  return JSON.parse(readFileSync(path, "utf8"));
}

/** Runs a command to its end; never rejects, so every step reports instead of throwing. */
function run(command, args, { cwd, timeoutMs }) {
  return new Promise((done) => {
    const child = spawn(command, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    state.children.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    // A hung call (a lock never granted, a stream never answered) must not hang the whole test.
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${seconds(timeoutMs)})`;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", (error) => {
      stderr += String(error);
    });
    child.on("close", (code, signal) => {
      state.children.delete(child);
      clearTimeout(timer);
      done({ ok: code === 0, code: code ?? signal, stdout, stderr });
    });
  });
}

/** The workspaces that get published: the root's `workspaces` globs, minus private packages. */
function publishableWorkspaces() {
  const dirs = readJson(join(root, "package.json")).workspaces.flatMap((pattern) => {
    if (!pattern.endsWith("/*")) return [pattern];
    const parent = pattern.slice(0, -2);
    return readdirSync(join(root, parent), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => `${parent}/${entry.name}`);
  });
  return dirs.filter((dir) => {
    try {
      return !readJson(join(root, dir, "package.json")).private;
    } catch {
      return false;
    }
  });
}

/** Every file a package.json points a resolver at: exports (all conditions), main, module, types, typesVersions. */
function entryPoints(pkg) {
  const paths = [];
  const collect = (value) => {
    if (typeof value === "string") paths.push(value);
    else if (Array.isArray(value)) value.forEach(collect);
    else if (value !== null && typeof value === "object") Object.values(value).forEach(collect);
  };
  collect([pkg.exports, pkg.main, pkg.module, pkg.types, pkg.typesVersions]);
  return [...new Set(paths)].map((path) => path.replace(/^\.\//, ""));
}

async function pack(workspaces, destination) {
  const args = ["pack", "--json", "--pack-destination", destination, ...workspaces.flatMap((w) => ["-w", w])];
  const result = await run("npm", args, { cwd: root, timeoutMs: 60_000 });
  if (!result.ok) {
    fail("npm pack", result.stderr);
    return [];
  }
  const packed = JSON.parse(result.stdout);
  pass(`npm pack: ${packed.map((p) => p.filename).join(", ")}`);
  // A tarball whose exports point at files it does not hold installs fine and fails on first use.
  for (const { name, files } of packed) {
    const dir = workspaces.find((w) => readJson(join(root, w, "package.json")).name === name);
    const inTarball = new Set(files.map((f) => f.path));
    const missing = entryPoints(readJson(join(root, dir, "package.json"))).filter((p) => !inTarball.has(p));
    if (missing.length > 0) fail(`${name}: tarball holds what package.json points at`, missing.join("\n"));
    else pass(`${name}: tarball holds what package.json points at`);
  }
  return packed.map((p) => ({ name: p.name, path: join(destination, p.filename) }));
}

/** The installed version of a workspace dependency, so the app's install is served from npm's cache. */
function workspaceVersion(name) {
  return readJson(join(root, "node_modules", name, "package.json")).version;
}

function writeApp(app, tarballs) {
  mkdirSync(app);
  const dependencies = {};
  for (const tarball of tarballs) dependencies[tarball.name] = `file:${tarball.path}`;
  // Listed, not left to npm's peer installation, so the versions are the ones already in the cache.
  for (const name of ["@bufbuild/protobuf", "@connectrpc/connect", "prom-client", "@types/node"]) {
    dependencies[name] = workspaceVersion(name);
  }
  writeFileSync(
    join(app, "package.json"),
    `${JSON.stringify({ name: "etcd-connect-pack-test-app", private: true, dependencies }, null, 2)}\n`,
  );
  for (const file of ["smoke.mjs", "smoke.cjs", "smoke-checks.cjs"]) {
    copyFileSync(join(fixtures, file), join(app, file));
  }
  // One text, three module settings: app.mts and app.cts under nodenext, app-node10.ts under commonjs.
  for (const file of ["app.mts", "app.cts", "app-node10.ts"]) {
    copyFileSync(join(fixtures, "app.ts"), join(app, file));
  }
  const common = {
    target: "es2022",
    // Connect's types name HeadersInit, which only the DOM library declares.
    lib: ["es2023", "dom"],
    strict: true,
    noEmit: true,
    // Check our declaration files too: an import in them that does not resolve is reported only so.
    skipLibCheck: false,
    types: ["node"],
  };
  const tsconfigs = {
    "tsconfig.nodenext.json": {
      compilerOptions: { ...common, module: "nodenext", moduleResolution: "nodenext" },
      files: ["app.mts", "app.cts"],
    },
    // As NestJS's default: module commonjs and no moduleResolution, which then means node10.
    "tsconfig.node10.json": {
      compilerOptions: { ...common, module: "commonjs", esModuleInterop: true },
      files: ["app-node10.ts"],
    },
  };
  for (const [file, config] of Object.entries(tsconfigs)) {
    writeFileSync(join(app, file), `${JSON.stringify(config, null, 2)}\n`);
  }
}

/** A free loopback port other than etcd's defaults, so a developer's own etcd is never touched. */
function freePort() {
  return new Promise((done, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => (port === 2379 || port === 2380 ? freePort().then(done, reject) : done(port)));
    });
  });
}

async function startEtcd(dataDir) {
  const clientPort = await freePort();
  let peerPort = await freePort();
  while (peerPort === clientPort) peerPort = await freePort();
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const args = [
    "--name=pack-test",
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${clientUrl}`,
    `--advertise-client-urls=${clientUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=pack-test=${peerUrl}`,
    "--logger=zap",
    "--log-level=error",
  ];
  const child = spawn(process.env.ETCD_BIN ?? "etcd", args, { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr.on("data", (chunk) => {
    log = (log + chunk).slice(-4000);
  });
  const exited = new Promise((done) => {
    child.once("error", (error) => {
      log += String(error);
      done();
    });
    child.once("exit", () => done());
  });
  let running = true;
  void exited.then(() => {
    running = false;
  });
  const etcd = { child, clientUrl, exited, isRunning: () => running, log: () => log };
  // Known to the cleanup from now on, so an interrupt while it starts still stops it.
  state.etcd = etcd;

  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && running) {
    try {
      const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
      if ((await res.json()).health === "true") return etcd;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await stopEtcd(etcd);
  throw new Error(`etcd did not become healthy at ${clientUrl}\n${log}`);
}

async function stopEtcd(etcd) {
  if (!etcd.isRunning()) return;
  etcd.child.kill("SIGTERM");
  const timer = setTimeout(() => etcd.child.kill("SIGKILL"), 5000);
  await etcd.exited;
  clearTimeout(timer);
}

/** Runs one of the app's smoke scripts; its own lines are the checks, its exit code the backstop. */
async function smoke(app, script, endpoint) {
  const result = await run(process.execPath, [script, endpoint], { cwd: app, timeoutMs: 60_000 });
  const lines = result.stdout.split("\n").filter((line) => line.trim() !== "");
  for (const line of lines) {
    if (line.startsWith("ok ") || line.startsWith("FAIL ")) {
      checks++;
      if (line.startsWith("FAIL ")) failures++;
    }
    console.log(line);
  }
  if (!result.ok && !lines.some((line) => line.startsWith("FAIL "))) {
    fail(`node ${script} exited with ${result.code}`, `${result.stdout}\n${result.stderr}`);
  }
}

async function compile(app, project, name) {
  const result = await run(process.execPath, [tsc, "-p", project, "--pretty", "false"], {
    cwd: app,
    timeoutMs: 60_000,
  });
  if (result.ok) pass(name);
  else fail(name, `${result.stdout}${result.stderr}`.split("\n").slice(0, 30).join("\n"));
}

async function main(work) {
  const workspaces = publishableWorkspaces();
  const packs = join(work, "packs");
  mkdirSync(packs);
  const tarballs = await pack(workspaces, packs);
  if (tarballs.length !== workspaces.length) return;

  const app = join(work, "app");
  writeApp(app, tarballs);

  // The install (network or cache) and etcd's start both mostly wait, so they overlap.
  const etcdStarting = startEtcd(join(work, "etcd-data")).then(
    (etcd) => {
      pass(`etcd healthy at ${etcd.clientUrl}`);
      return etcd;
    },
    (error) => {
      fail("etcd start", String(error.message));
      return undefined;
    },
  );
  const install = await run(
    "npm",
    ["install", "--no-audit", "--no-fund", "--prefer-offline", "--ignore-scripts", "--loglevel=error"],
    { cwd: app, timeoutMs: 90_000 },
  );
  if (install.ok) pass("npm install of the tarballs in an empty app");
  else fail("npm install of the tarballs in an empty app", install.stderr);
  const etcd = await etcdStarting;
  if (!install.ok) return;

  const compiles = Promise.all([
    compile(app, "tsconfig.nodenext.json", "tsc: module nodenext (app.mts imports, app.cts requires)"),
    compile(app, "tsconfig.node10.json", "tsc: module commonjs, node10 resolution (app-node10.ts)"),
  ]);
  if (etcd) {
    // Sequential, so their lines do not interleave; the compiles run meanwhile.
    await smoke(app, "smoke.mjs", etcd.clientUrl);
    await smoke(app, "smoke.cjs", etcd.clientUrl);
    // etcd logs errors only, so anything here is likely the reason for a failure above.
    if (failures > 0 && etcd.log().trim() !== "") console.log(`etcd's log:\n${indent(etcd.log())}`);
  }
  await compiles;
}

const work = mkdtempSync(join(tmpdir(), "etcd-connect-pack-test-"));

// Ctrl-C or a CI cancel must not leave etcd running or the temp tree behind. The commands still
// running (npm install, say) are stopped first and awaited: they would write into the tree again.
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, async () => {
    const running = [...state.children];
    if (state.etcd?.isRunning()) running.push(state.etcd.child);
    const stopped = running.map((child) => new Promise((done) => child.once("close", done)));
    for (const child of running) child.kill("SIGKILL");
    await Promise.race([Promise.all(stopped), new Promise((done) => setTimeout(done, 5000))]);
    rmSync(work, { recursive: true, force: true, maxRetries: 3 });
    process.exit(130);
  });
}

try {
  await main(work);
} catch (error) {
  fail("pack-test", error instanceof Error ? error.stack : String(error));
} finally {
  if (state.etcd) await stopEtcd(state.etcd);
  rmSync(work, { recursive: true, force: true });
}
console.log(
  `pack-test: ${checks - failures}/${checks} passed in ${seconds(performance.now() - started)}` +
    (failures > 0 ? `, ${failures} failed` : ""),
);
process.exitCode = failures > 0 ? 1 : 0;
