// `npm run bench:transport` (node --conditions=source --import tsx transport-bench.ts): our
// createGrpcTransport against connect-node's on the same etcd, through Connect's generated KV
// client. The full run writes results/transport.{md,json}; TRANSPORT_BENCH_QUICK=1 is one short
// round written to $BENCH_OUT/transport.{md,json} (default: etcd-connect-bench in the temp folder).
import { tmpdir } from "node:os";
import { join } from "node:path";
import { killTransportWorkers, runTransportBench, transportMarkdown } from "./transport-run.js";

const quick = process.env.TRANSPORT_BENCH_QUICK === "1";
const outDir = quick
  ? (process.env.BENCH_OUT ?? join(tmpdir(), "etcd-connect-bench"))
  : join(import.meta.dirname, "results");

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    killTransportWorkers();
    process.exit(130);
  });
}

const results = await runTransportBench({ quick, outDir, log: (line) => console.log(line) });
console.log(`\n${transportMarkdown(results)}`);
console.log(`Wrote ${join(outDir, "transport.{md,json}")} in ${Math.round(results.durationS)} s`);
if (results.workloads.some((w) => Object.values(w.runs).some((runs) => runs.some((run) => "error" in run)))) {
  process.exitCode = 1;
}
