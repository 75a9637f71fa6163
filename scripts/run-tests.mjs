#!/usr/bin/env node
// Runs every test file below the given folders (default: the whole repo) in one
// `node --test` process tree, so the log ends with a single node test summary.
// Node 20 takes no globs, hence the file walk. Sources run through tsx with the
// "source" export condition, so tests never depend on a stale dist/.
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { devNull } from "node:os";
import { join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const root = resolve(import.meta.dirname, "..");
const skip = new Set(["node_modules", "dist", ".turbo", ".git", "results"]);
// `npm run docs` copies files the READMEs link to (a test among them) into the API reference.
const generated = new Set([join(root, "docs", "api")]);

function collect(dir, out) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (skip.has(name) || generated.has(path)) continue;
    if (statSync(path).isDirectory()) collect(path, out);
    else if (name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

const folders = process.argv.slice(2);
const starts = folders.length > 0 ? folders.map((f) => resolve(f)) : [root];
const files = starts
  .flatMap((dir) => collect(dir, []))
  .sort()
  .map((f) => relative(process.cwd(), f));
if (files.length === 0) {
  console.error("run-tests: no test files found");
  process.exit(1);
}
// Integration suites mostly wait on etcd, so more files than cores run at once. Files named
// `*.solo.test.ts` load the machine on purpose (CPU hogs, bursts of 10,000 calls): they run
// first, one at a time, so that their load tests them and not every other suite beside them.
// Four at once on 2 cores: the longest files mostly wait (idle streams for 60 s, members paused,
// TTLs running out), and every test is written to pass on a loaded machine. The whole suite: 5 min
// 23 s on the project's 2-core machine kind, 6 min 10 s with a CPU hog on one of the cores.
const concurrency = process.env.TEST_CONCURRENCY ?? "4";
// Longest first: node starts files in the order given, so a long file started last would run on
// alone after the others finished. Durations come from the last recorded run; a file not in the
// record yet goes first, as if long.
const recorded = join(root, "scripts", "test-durations.json");
const durations = existsSync(recorded) ? JSON.parse(readFileSync(recorded, "utf8")) : {};
const expected = (file) => durations[relative(root, resolve(file))] ?? Number.POSITIVE_INFINITY;
const longestFirst = (a, b) => expected(b) - expected(a) || a.localeCompare(b);
const solo = files.filter((f) => f.endsWith(".solo.test.ts")).sort(longestFirst);
const shared = files.filter((f) => !f.endsWith(".solo.test.ts")).sort(longestFirst);
// TEST_DURATIONS_OUT=scripts/test-durations.json refreshes the record.
// biome-ignore lint/suspicious/noUndeclaredEnvVars: set by hand, never by turbo.
const recording = process.env.TEST_DURATIONS_OUT
  ? [
      `--test-reporter=${pathToFileURL(join(root, "scripts", "test-durations-reporter.mjs")).href}`,
      `--test-reporter-destination=${devNull}`,
    ]
  : [];

function runTests(list, filesAtOnce) {
  return new Promise((resolvePromise) => {
    const child = spawn(
      process.execPath,
      [
        "--conditions=source",
        "--import",
        "tsx",
        "--test",
        "--test-reporter=spec",
        "--test-reporter-destination=stdout",
        ...recording,
        `--test-concurrency=${filesAtOnce}`,
        ...list,
      ],
      { stdio: "inherit", env: { ...process.env, TEST_DURATIONS_FILES: JSON.stringify(list) } },
    );
    child.on("exit", (code, signal) => resolvePromise(signal ? 1 : (code ?? 1)));
  });
}

// The shared run comes last, so the log ends with node's summary; a failed solo run still fails the whole.
const soloCode = solo.length > 0 ? await runTests(solo, "1") : 0;
const sharedCode = shared.length > 0 ? await runTests(shared, concurrency) : 0;
process.exit(soloCode !== 0 ? soloCode : sharedCode);
