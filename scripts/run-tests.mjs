#!/usr/bin/env node
// Runs every test file below the given folders (default: the whole repo) in one
// `node --test` process tree, so the log ends with a single node test summary.
// Node 20 takes no globs, hence the file walk. Sources run through tsx with the
// "source" export condition, so tests never depend on a stale dist/.
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";

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
const concurrency = process.env.TEST_CONCURRENCY ?? "3";
const solo = files.filter((f) => f.endsWith(".solo.test.ts"));
const shared = files.filter((f) => !f.endsWith(".solo.test.ts"));

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
        `--test-concurrency=${filesAtOnce}`,
        ...list,
      ],
      { stdio: "inherit" },
    );
    child.on("exit", (code, signal) => resolvePromise(signal ? 1 : (code ?? 1)));
  });
}

// The shared run comes last, so the log ends with node's summary; a failed solo run still fails the whole.
const soloCode = solo.length > 0 ? await runTests(solo, "1") : 0;
const sharedCode = shared.length > 0 ? await runTests(shared, concurrency) : 0;
process.exit(soloCode !== 0 ? soloCode : sharedCode);
