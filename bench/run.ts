// `npm run bench`: the full run (results/ and the README's table), or with BENCH_QUICK=1 a
// ~30 s smoke run written to BENCH_OUT (default: a temp folder), leaving results/ alone.
// BENCH_RENDER=1 only re-renders the table, chart and README from results/latest.json.
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { markdownTable } from "./report.js";
import type { BenchResults } from "./results.js";
import { runBench, writeReports } from "./run-bench.js";
import { killWorkers } from "./worker-process.js";

const quick = process.env.BENCH_QUICK === "1";
// BENCH_ONLY=put-128,watch-fan-in runs those workloads only, written to the temp folder.
const only = process.env.BENCH_ONLY?.split(",").map((id) => id.trim());
const resultsDir = join(import.meta.dirname, "results");
// BENCH_SCALE=1 adds the scale ramp (watchers-1k/100k, leases-1k/10k/100k-ttl60), in the temp folder.
const scale = process.env.BENCH_SCALE === "1";
const partial = quick || only !== undefined || scale;
const outDir = process.env.BENCH_OUT ?? (partial ? join(tmpdir(), "etcd-connect-bench") : resultsDir);
const readmePath = partial ? undefined : join(import.meta.dirname, "README.md");

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    killWorkers();
    process.exit(130);
  });
}

if (process.env.BENCH_RENDER === "1") {
  const results = JSON.parse(await readFile(join(resultsDir, "latest.json"), "utf8")) as BenchResults;
  await writeReports(results, resultsDir, join(import.meta.dirname, "README.md"));
  console.log(markdownTable(results));
} else {
  const results = await runBench({
    quick,
    outDir,
    readmePath,
    only,
    scale,
    log: (line) => console.log(line),
  });
  console.log(`\n${markdownTable(results)}`);
  console.log(`Wrote ${join(outDir, "latest.{json,md,svg}")} in ${Math.round(results.durationS)} s`);
}
