#!/usr/bin/env node
// Runs the examples and a slice of the integration tests on the runtimes our users may pick besides
// the Node of the main suite: Node 22 and 24, Bun and Deno. Each comes from the npm registry at an
// exact version into a cache outside the repo (reused when present), so CI installs nothing system-wide.
// Every etcd is started by the runs themselves on free loopback ports and stopped again, also on failure.
//
//   node scripts/runtimes.mjs [node22] [node24] [bun] [deno] [node26]   (default: all but node26)
//
// RUNTIMES_CACHE        where the runtimes go (default: <os.tmpdir()>/etcd-connect-runtimes)
// RUNTIMES_CONCURRENCY  runs at a time, across runtimes (default: 3, as scripts/run-tests.mjs)
// RUNTIMES_SKIP         comma-separated <runtime>:<check> to leave out, each printed as skipped; a check
//                       is a test file, "examples" or "examples/demo.ts" (deno:examples/demo.ts)
//
// Node runs the TypeScript sources through tsx with the "source" condition, as the main suite does.
// Bun and Deno run the built ESM (dist/), which is what they get from npm. The build runs first (turbo:
// cached when nothing changed). Prints one line per runtime and check; exits non-zero when one fails.
// biome-ignore-all lint/suspicious/noUndeclaredEnvVars: CI runs this script itself, never as a turbo task.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createRunner } from "./runtimes-runner.mjs";

const root = resolve(import.meta.dirname, "..");
const cacheRoot = process.env.RUNTIMES_CACHE ?? join(tmpdir(), "etcd-connect-runtimes");
const concurrency = Number(process.env.RUNTIMES_CONCURRENCY ?? "3");
const skips = new Set((process.env.RUNTIMES_SKIP ?? "").split(",").filter(Boolean));
const { run, stopAll, leftovers, killLeftovers } = createRunner({ cwd: root });

// Newest on the registry when pinned (`npm view node versions --json`, `npm view bun version`, ...).
// Node 26, the newest line, runs only when named: the CI budget holds four runtimes.
const versions = { node22: "22.23.3", node24: "24.21.0", bun: "1.4.5", deno: "2.9.6", node26: "26.10.0" };

/**
 * The slice of the integration tests each runtime runs. `expectS` is the time on Node 20 alone on the
 * project's 2-core machine: the pool starts the longest first, and kills a run after max(60 s, 4x that).
 * `only` names the tests to run where a runtime can select tests by name (`wholeS`: the whole file,
 * for a runtime that cannot). A run that prints nothing for `stallS` is stuck and killed: no test in
 * the slice takes half of that, and node:test waits forever by default. Runs of one `exclusive`
 * group never overlap: two fault clusters under load at once would miss the failover bounds asserted.
 */
const stallS = 60;
const slice = [
  // Failover: the member in use paused, the leader killed and restarted, a black-holed link, a PING
  // timeout. The other tests of the file (isolation, resets every 10 ms, all members down) would
  // add 25 s per runtime.
  {
    file: "packages/client/test/failover.test.ts",
    expectS: 30,
    wholeS: 50,
    exclusive: "fault-cluster",
    only: [
      "SIGSTOP of the member in use",
      "SIGKILL and restart of the leader",
      "black-holed client link",
      "tick after a PING timeout",
    ],
  },
  // Lease grant and revoke, keepAlive past the TTL, `lost` on revoke and on a black-holed link.
  { file: "packages/client/test/lease.test.ts", expectS: 16 },
  // Sessions and a mutex under contention: txn, watch and lease together, timing-sensitive.
  { file: "packages/concurrency/test/mutex.test.ts", expectS: 11 },
  // Watch: filters, history, progress, fragments, 10,000 watchers, resume after a reset, compaction.
  { file: "packages/client/test/watch.test.ts", expectS: 10 },
  // The transport on its own under Connect's createClient: codes, deadlines, size limits, close.
  { file: "packages/transport/test/grpc-transport.test.ts", expectS: 6 },
  // Namespaced KV, watch and lease.
  { file: "packages/namespace/test/isolation.test.ts", expectS: 6 },
  // Answers of many MiB: decoded in place from views of the socket reads they arrived in, which
  // holds only where a runtime never writes a read's buffer again ('data' events on Bun and Deno).
  {
    file: "packages/client/test/large-messages.test.ts",
    expectS: 8,
    wholeS: 15,
    only: [
      "a watch catch-up of 64 MiB arrives whole and in order while small calls answer",
      "a 64 MiB range read arrives whole while small calls answer",
      // A pattern: the title's parentheses would be a group.
      "a catch-up and a range read of 20,480 small keys",
    ],
  },
  // KV and txn: ranges, revisions, every compare target, nested txns, compaction.
  { file: "packages/client/test/kv.test.ts", expectS: 5 },
];

/** What each example must print (stdout), beyond exiting with 0; as examples/examples.test.ts checks. */
const expectations = {
  "basic-kv.ts": [/alice: \{\s*role: ["']admin["'],?\s*\}/, /claimed ownership: true/, /deleted keys: 3n/],
  "watch-resume.ts": [/^first run: example\/jobs\/1\nresumed: example\/jobs\/2\nresumed: example\/jobs\/3$/],
  "namespaces.ts": [
    /acme theme: dark/,
    /globex theme: light/,
    /acme sees keys: 1n/,
    /tenants\/acme\/settings\/theme/,
  ],
  "lock.ts": [/(ran the nightly job[\s\S]*){3}/, /last run by: worker-\d/],
  "election.ts": [/^leader: node-a\nleader: node-a \(still here\)\nleader: node-b$/],
  "demo.ts": [
    /get demo\/greeting -> hello, etcd/,
    /event: demo\/orders\/1 = paid/,
    /tenant A reads config -> A's config/,
    /grpc_client_handled_total\{.*grpc_method="Put",grpc_code="OK"\}/,
    /no acknowledged write and no event lost across the failover/,
    /no etcd process left behind/,
  ],
};

const number = (text, re) => Number(re.exec(text)?.[1] ?? 0);

function nodeRuntime(id, onRequest = false) {
  const tsx = ["--conditions=source", "--import", "tsx"];
  return {
    id,
    onRequest,
    pkg: "node",
    bin: "node_modules/node/bin/node",
    usesDist: false,
    selectsTests: true,
    example: (file) => [...tsx, file],
    test: (file, only) => [
      ...tsx,
      "--test",
      "--test-reporter=spec",
      ...(only === undefined ? [] : [`--test-name-pattern=${only.join("|")}`]),
      file,
    ],
    counts: (out) => ({
      passed: number(out, /^ℹ pass (\d+)/m),
      failed: number(out, /^ℹ fail (\d+)/m) + number(out, /^ℹ cancelled (\d+)/m),
      unit: "tests",
    }),
    env: {},
  };
}

const runtimes = [
  nodeRuntime("node22"),
  nodeRuntime("node24"),
  {
    id: "bun",
    pkg: "bun",
    bin: "node_modules/bun/bin/bun.exe",
    usesDist: true,
    selectsTests: true,
    example: (file) => ["run", file],
    // `bun test` runs node:test suites (`bun run` refuses them: "Cannot use describe outside of the test
    // runner"), but gives every test 5 s unless told otherwise, where node:test gives no limit.
    test: (file, only) => [
      "test",
      "--timeout=120000",
      ...(only === undefined ? [] : ["--test-name-pattern", only.join("|")]),
      `./${file}`,
    ],
    counts: (out) => ({
      passed: number(out, /^\s*(\d+) pass$/m),
      failed: number(out, /^\s*(\d+) fail$/m),
      unit: "tests",
    }),
    env: { NO_COLOR: "1" },
  },
  {
    id: "deno",
    pkg: "deno",
    bin: "node_modules/deno/deno",
    usesDist: true,
    selectsTests: false,
    example: (file) => ["run", "-A", "--no-lock", "--node-modules-dir=manual", file],
    // --sloppy-imports: our tests import their helpers as "./helpers.js" (TypeScript's nodenext
    // spelling of helpers.ts), which Deno resolves only with it. --no-check: in this workspace Deno
    // type-checks dist/*.d.ts against the .js next to them (not as an npm package) and loses the types;
    // tsc checks the types in the main job. `deno test` cannot select node:test tests by name (its
    // --filter sees only the top-level describe), so `only` does not apply: Deno runs whole files.
    test: (file) => [
      "test",
      "-A",
      "--no-lock",
      "--node-modules-dir=manual",
      "--no-check",
      "--sloppy-imports",
      file,
    ],
    // "ok | 1 passed (10 steps) | 0 failed": a describe is a test, its its are steps.
    counts: (out) => ({
      passed: number(out, /\| \d+ passed \((\d+) steps?\)/) || number(out, /\| (\d+) passed/),
      failed: number(out, /\| \d+ failed \((\d+) steps?\)/) || number(out, /\| (\d+) failed/),
      unit: "tests",
    }),
    env: { DENO_DIR: join(cacheRoot, "deno-dir"), DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
  },
  nodeRuntime("node26", true),
];

// Runs live in their own process groups, so a Ctrl-C reaches only us: pass it on. A second one, or
// a crash of this script, kills at once.
function abort() {
  stopAll("SIGKILL");
  killLeftovers();
  process.exit(130);
}
let interrupted = false;
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    if (interrupted) abort();
    interrupted = true;
    console.error(`\n${signal}: stopping every run ...`);
    stopAll("SIGTERM");
    setTimeout(abort, 5000).unref();
  });
}
process.on("exit", () => stopAll("SIGKILL"));

// ---------------------------------------------------------------------------------------------
// Install and build.

function versionMatches(bin, version) {
  if (!existsSync(bin)) return Promise.resolve(false);
  return run(bin, ["--version"], { timeoutMs: 30_000 }).then(
    (r) => r.code === 0 && r.stdout.includes(version),
  );
}

/** Installs `pkg@version` into its own folder of the cache unless a working copy is there. */
async function install(runtime, version) {
  const dir = join(cacheRoot, `${runtime.pkg}-${version}`);
  const bin = join(dir, runtime.bin);
  if (await versionMatches(bin, version)) return { bin, note: "cached" };
  // Installed next to the cache entry and moved in whole, so a run that dies midway, or another run
  // installing at the same time, never leaves a half-installed runtime behind the final name.
  const staging = `${dir}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    // These packages fetch or place their binary in an install script; npm 11 asks for those to be allowed.
    const manifest = { private: true, allowScripts: { [`${runtime.pkg}@${version}`]: true } };
    writeFileSync(join(staging, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
    const args = ["install", "--no-save", "--no-package-lock", "--no-audit", "--no-fund", "--loglevel=error"];
    const spec = `${runtime.pkg}@${version}`;
    const result = await run("npm", [...args, spec], { cwd: staging, timeoutMs: 300_000 });
    if (result.code !== 0) throw new Error(`npm install ${spec} failed:\n${tail(result.all)}`);
    if (!(await versionMatches(join(staging, runtime.bin), version)))
      throw new Error(`${spec} installed no binary reporting version ${version} at ${runtime.bin}`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(staging, dir);
    return { bin, note: `installed in ${result.seconds.toFixed(1)} s` };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

// Only what the examples and the slice import (turbo adds their dependencies). Node runs the sources,
// but the examples' etcd comes from the built testing package, so every run builds.
const buildFilters = ["concurrency", "namespace", "prometheus", "testing"].map(
  (name) => `--filter=@etcd-connect/${name}`,
);

function build() {
  const turbo = join(root, "node_modules", ".bin", "turbo");
  return run(turbo, ["run", "build", ...buildFilters, "--output-logs=errors-only"], { timeoutMs: 600_000 });
}

// ---------------------------------------------------------------------------------------------
// Checks.

function tail(text, lines = 60) {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

function checkOutput(file, stdout) {
  const wanted = expectations[file];
  if (wanted === undefined) return "no expectations in scripts/runtimes.mjs for this example";
  const text = stdout.trim();
  const missing = wanted.filter((re) => !new RegExp(re.source, `${re.flags}m`).test(text));
  return missing.length === 0 ? undefined : `output does not match ${missing.join(", ")}`;
}

function describeFailure(result) {
  if (result.error !== undefined) return `could not start: ${result.error.message}`;
  if (result.timedOut !== undefined) return result.timedOut;
  if (result.signal !== null) return `killed by ${result.signal}`;
  return `exit code ${result.code}`;
}

// A module-not-found on Bun or Deno usually means dist/ changed under us (someone rebuilt meanwhile).
const missingFile = /Cannot find module|Module not found|ERR_MODULE_NOT_FOUND|Could not resolve/;

/** The examples that read ETCD_ENDPOINTS, one after another against one etcd (they share key prefixes). */
async function runSharedExamples(runtime, bin, files) {
  // The built testing package: loaded only now, after the build.
  const { startEtcd } = await import("@etcd-connect/testing");
  const etcd = await startEtcd();
  const lines = [];
  let failure;
  try {
    for (const file of files) {
      const result = await run(bin, runtime.example(join("examples", file)), {
        env: { ...runtime.env, ETCD_ENDPOINTS: etcd.clientUrl },
        timeoutMs: 60_000,
      });
      lines.push(`${file.replace(/\.ts$/, "")} ${result.seconds.toFixed(1)} s`);
      const problem =
        result.code === 0 && result.signal === null
          ? checkOutput(file, result.stdout)
          : describeFailure(result);
      if (problem !== undefined) {
        failure = { problem: `${file}: ${problem}`, output: result.all };
        break;
      }
    }
  } finally {
    await etcd.close();
  }
  return { detail: lines.join(", "), failure };
}

async function runOwnExample(runtime, bin, file) {
  const result = await run(bin, runtime.example(join("examples", file)), {
    env: runtime.env,
    timeoutMs: 120_000,
  });
  const problem =
    result.code === 0 && result.signal === null ? checkOutput(file, result.stdout) : describeFailure(result);
  return { detail: "", failure: problem === undefined ? undefined : { problem, output: result.all } };
}

async function runTestFile(runtime, bin, entry, expectS) {
  const args = runtime.test(entry.file, entry.only);
  const result = await run(bin, args, {
    env: { ...runtime.env, ETCD_REQUIRED: "1" },
    timeoutMs: Math.max(60, 4 * expectS) * 1000,
    stallMs: stallS * 1000,
  });
  const { passed, failed, unit } = runtime.counts(result.all);
  const detail = `${passed} ${unit} passed${failed > 0 ? `, ${failed} failed` : ""}`;
  let problem;
  if (result.code !== 0 || result.signal !== null || result.timedOut !== undefined)
    problem = describeFailure(result);
  else if (passed === 0) problem = "no test ran";
  return { detail, failure: problem === undefined ? undefined : { problem, output: result.all } };
}

// ---------------------------------------------------------------------------------------------
// Main.

const started = performance.now();
const elapsed = () => (performance.now() - started) / 1000;
const seconds = (s) => (s >= 90 ? `${Math.floor(s / 60)} min ${(s % 60).toFixed(0)} s` : `${s.toFixed(1)} s`);

const wanted = process.argv.slice(2);
const unknown = wanted.filter((id) => !runtimes.some((r) => r.id === id));
if (unknown.length > 0) {
  console.error(
    `runtimes: unknown ${unknown.join(", ")}; choose from ${runtimes.map((r) => r.id).join(", ")}`,
  );
  process.exit(2);
}
const chosen = runtimes.filter((r) => (wanted.length === 0 ? !r.onRequest : wanted.includes(r.id)));

const examplesDir = join(root, "examples");
const exampleFiles = readdirSync(examplesDir)
  .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"))
  .sort();
// An example that does not read ETCD_ENDPOINTS (the demo) starts its own cluster.
const sharedExamples = exampleFiles.filter((f) =>
  readFileSync(join(examplesDir, f), "utf8").includes("ETCD_ENDPOINTS"),
);
const ownExamples = exampleFiles.filter((f) => !sharedExamples.includes(f));

console.log(`runtimes: cache ${cacheRoot}, ${concurrency} runs at a time`);
const [installs, built] = await Promise.all([
  Promise.all(
    chosen.map((runtime) =>
      install(runtime, versions[runtime.id]).then(
        (ok) => ok,
        (error) => ({ error }),
      ),
    ),
  ),
  build(),
]);
for (const [i, runtime] of chosen.entries()) {
  const done = installs[i];
  console.log(
    `  ${runtime.id.padEnd(7)} ${runtime.pkg}@${versions[runtime.id]}: ${done.error === undefined ? done.note : done.error.message}`,
  );
}
const buildFailed = built.code !== 0;
console.log(
  `  build (${buildFilters.length} packages and their dependencies): ${buildFailed ? "FAILED" : "ok"} in ${seconds(built.seconds)}`,
);
if (buildFailed) console.log(tail(built.all));
const prepared = elapsed();

/** One check of one runtime: a test file, the shared examples, or an example with its own cluster. */
const jobs = [];
for (const [i, runtime] of chosen.entries()) {
  const { bin, error } = installs[i];
  const add = (name, file, expectS, go, { exclusive, needsDist = runtime.usesDist } = {}) => {
    const blocked =
      error !== undefined ? "not installed" : needsDist && buildFailed ? "build failed" : undefined;
    jobs.push({ runtime, name, file, expectS, exclusive, blocked, go: () => go(bin) });
  };
  for (const entry of slice) {
    const filtered = entry.only !== undefined && runtime.selectsTests;
    const name = `${entry.file}${filtered ? ` (${entry.only.length} tests)` : ""}`;
    const expectS = filtered ? entry.expectS : (entry.wholeS ?? entry.expectS);
    add(name, entry.file, expectS, (b) => runTestFile(runtime, b, entry, expectS), {
      exclusive: entry.exclusive,
    });
  }
  const shared = `examples/{${sharedExamples.map((f) => f.replace(/\.ts$/, "")).join(",")}}`;
  add(shared, "examples", 8, (b) => runSharedExamples(runtime, b, sharedExamples), { needsDist: true });
  for (const file of ownExamples)
    add(`examples/${file}`, `examples/${file}`, 8, (b) => runOwnExample(runtime, b, file));
}
// Longest first, runtimes interleaved, so that the slots end together.
jobs.sort((a, b) => b.expectS - a.expectS);

const results = new Map(chosen.map((r) => [r.id, []]));
function report(job, status, secondsTaken, detail) {
  results.get(job.runtime.id).push({ job, status, seconds: secondsTaken });
  const time = secondsTaken === undefined ? "" : `${secondsTaken.toFixed(1)} s`;
  console.log(
    `${job.runtime.id.padEnd(7)} ${job.name.padEnd(62)} ${status.padEnd(5)} ${time.padStart(7)}  ${detail}`,
  );
}

console.log(`\n${"runtime".padEnd(7)} ${"check".padEnd(62)} ${"".padEnd(5)} ${"time".padStart(7)}`);
// A free slot takes the first job whose exclusive group is idle, else waits for a job to end.
const busy = new Set();
let waiting = [];
const jobEnded = () => new Promise((wake) => waiting.push(wake));
function take() {
  const i = jobs.findIndex((job) => job.exclusive === undefined || !busy.has(job.exclusive));
  return i < 0 ? undefined : jobs.splice(i, 1)[0];
}

async function perform(job) {
  if (skips.has(`${job.runtime.id}:${job.file}`)) {
    report(job, "skip", undefined, "RUNTIMES_SKIP");
    return;
  }
  if (job.blocked !== undefined) {
    report(job, "FAIL", undefined, job.blocked);
    return;
  }
  const t0 = performance.now();
  let outcome;
  try {
    outcome = await job.go();
  } catch (error) {
    outcome = { detail: "", failure: { problem: error.message, output: "" } };
  }
  const took = (performance.now() - t0) / 1000;
  if (outcome.failure === undefined) {
    report(job, "pass", took, outcome.detail);
    return;
  }
  const hint =
    job.runtime.usesDist && missingFile.test(outcome.failure.output)
      ? " (a file is missing: was dist/ rebuilt meanwhile? run again)"
      : "";
  report(job, "FAIL", took, `${outcome.detail} ${outcome.failure.problem}${hint}`.trim());
  if (interrupted) return;
  console.log(
    tail(outcome.failure.output)
      .split("\n")
      .map((line) => `        | ${line}`)
      .join("\n"),
  );
}

await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (jobs.length > 0 && !interrupted) {
      const job = take();
      if (job === undefined) {
        await jobEnded();
        continue;
      }
      if (job.exclusive !== undefined) busy.add(job.exclusive);
      try {
        await perform(job);
      } finally {
        busy.delete(job.exclusive);
        const wake = waiting;
        waiting = [];
        for (const resolve of wake) resolve();
      }
    }
  }),
);

// Watchdogs act once their run's process is gone; give them a moment before calling anything left over.
let left = leftovers();
for (let waited = 0; left.length > 0 && waited < 5000; waited += 250) {
  await new Promise((r) => setTimeout(r, 250));
  left = leftovers();
}
const killed = killLeftovers();
if (killed.length > 0) {
  console.log(`\nFAIL: ${killed.length} process(es) outlived their run and were killed:`);
  for (const { pid, cmd } of killed) console.log(`  ${pid} ${cmd.slice(0, 200)}`);
}

console.log(`\n${"runtime".padEnd(7)} ${"version".padEnd(8)} result  checks  time (sum of its runs)`);
let failed = killed.length > 0 || interrupted;
for (const runtime of chosen) {
  const rows = results.get(runtime.id);
  const bad = rows.filter((r) => r.status === "FAIL").length;
  const skipped = rows.filter((r) => r.status === "skip").length;
  const ran = rows.length - skipped;
  const total = rows.reduce((sum, r) => sum + (r.seconds ?? 0), 0);
  if (bad > 0) failed = true;
  console.log(
    `${runtime.id.padEnd(7)} ${versions[runtime.id].padEnd(8)} ${(bad > 0 ? "FAIL" : "pass").padEnd(7)} ${`${ran - bad}/${ran}`.padEnd(7)} ${seconds(total)}${skipped > 0 ? ` (${skipped} skipped)` : ""}`,
  );
}
console.log(
  `\nruntimes: ${interrupted ? "interrupted" : failed ? "FAIL" : "pass"} in ${seconds(elapsed())} (install and build ${seconds(prepared)}, runs ${seconds(elapsed() - prepared)})`,
);
process.exit(failed ? 1 : 0);
