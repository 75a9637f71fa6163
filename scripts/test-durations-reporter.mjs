// A node:test reporter that records how long each test file ran (the sum of its top-level tests
// and suites, hooks included), merged into the JSON file named by TEST_DURATIONS_OUT. It prints
// nothing: scripts/run-tests.mjs adds it beside the spec reporter, and passes the files in run
// order as TEST_DURATIONS_FILES. The committed record, scripts/test-durations.json, lets
// run-tests.mjs start the longest files first.
//
// node reports files one after another, in run order. A test knows the file that defined it,
// which for a suite made by a helper (describeReadmeExamples) is the helper's: such a top-level
// suite is taken as the whole of the next file in the run.
// biome-ignore-all lint/suspicious/noUndeclaredEnvVars: set by scripts/run-tests.mjs, never by turbo.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { relative, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");

export default async function* durations(source) {
  const files = JSON.parse(process.env.TEST_DURATIONS_FILES ?? "[]").map((f) => resolve(f));
  const seconds = {};
  let current = -1;
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const { nesting, file, details } = event.data;
    if (nesting !== 0 || file === undefined) continue;
    const index = files.indexOf(file);
    current = index >= 0 ? index : current + 1;
    const name = files[current] === undefined ? undefined : relative(root, files[current]);
    if (name !== undefined) seconds[name] = (seconds[name] ?? 0) + details.duration_ms / 1000;
  }
  const out = process.env.TEST_DURATIONS_OUT;
  if (out === undefined) return;
  const merged = existsSync(out) ? JSON.parse(readFileSync(out, "utf8")) : {};
  for (const [name, s] of Object.entries(seconds)) merged[name] = Math.round(s * 10) / 10;
  const sorted = Object.fromEntries(Object.entries(merged).sort(([a], [b]) => a.localeCompare(b)));
  writeFileSync(out, `${JSON.stringify(sorted, null, 2)}\n`);
  yield "";
}
