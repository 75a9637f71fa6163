// `npm run bench`: the full run (results/ and the README's table), or with BENCH_QUICK=1 a
// ~30 s smoke run written to BENCH_OUT (default: a temp folder), leaving results/ alone.
import { tmpdir } from "node:os";
import { join } from "node:path";
import { markdownTable } from "./report.js";
import { runBench } from "./run-bench.js";
import { killWorkers } from "./worker-process.js";

const quick = process.env.BENCH_QUICK === "1";
const outDir =
  process.env.BENCH_OUT ??
  (quick ? join(tmpdir(), "etcd-connect-bench") : join(import.meta.dirname, "results"));

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    killWorkers();
    process.exit(130);
  });
}

const results = await runBench({
  quick,
  outDir,
  readmePath: quick ? undefined : join(import.meta.dirname, "README.md"),
  log: (line) => console.log(line),
});
console.log(`\n${markdownTable(results)}`);
console.log(`Wrote ${join(outDir, "latest.{json,md,svg}")} in ${Math.round(results.durationS)} s`);
