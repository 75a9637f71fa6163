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

function collect(dir, out) {
  for (const name of readdirSync(dir)) {
    if (skip.has(name)) continue;
    const path = join(dir, name);
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
// Integration suites mostly wait on etcd, so more files than cores run at once.
const concurrency = process.env.TEST_CONCURRENCY ?? "3";
const child = spawn(
  process.execPath,
  [
    "--conditions=source",
    "--import",
    "tsx",
    "--test",
    "--test-reporter=spec",
    `--test-concurrency=${concurrency}`,
    ...files,
  ],
  { stdio: "inherit" },
);
child.on("exit", (code, signal) => process.exit(signal ? 1 : (code ?? 1)));
