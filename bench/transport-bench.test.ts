import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { integrationOptions } from "@etcd-connect/testing";
import { runTransportBench, type TransportBenchResults } from "./transport-run.js";
import { transportMetrics, transportNames, transportWorkloads } from "./transport-workloads.js";

describe("transport bench, quick mode against a real etcd", {
  ...integrationOptions(),
  timeout: 180_000,
}, () => {
  let outDir: string;
  let results: TransportBenchResults;

  before(async () => {
    outDir = await mkdtemp(join(tmpdir(), "etcd-connect-transport-bench-test-"));
    await runTransportBench({ quick: true, outDir });
    results = JSON.parse(await readFile(join(outDir, "transport.json"), "utf8")) as TransportBenchResults;
  });

  after(() => (outDir === undefined ? undefined : rm(outDir, { recursive: true, force: true })));

  it("has every workload, for both transports, with positive, finite figures", () => {
    assert.deepEqual(
      results.workloads.map((w) => w.id),
      transportWorkloads(true).map((w) => w.id),
    );
    for (const workload of results.workloads) {
      for (const transport of transportNames) {
        const runs = workload.runs[transport];
        assert.equal(runs.length, results.rounds, `${workload.id} ${transport}: rounds`);
        for (const run of runs) {
          assert.ok(
            "metrics" in run,
            `${workload.id} ${transport} failed: ${"error" in run ? run.error : ""}`,
          );
          for (const metric of transportMetrics) {
            const value = run.metrics[metric.id];
            const where = `${workload.id} ${transport}: ${metric.id} = ${value}`;
            assert.ok(value !== undefined && Number.isFinite(value), where);
            // A short window may see no GC at all; every other figure is a positive amount.
            assert.ok(metric.zeroOk === true ? value >= 0 : value > 0, where);
          }
        }
      }
      for (const metric of transportMetrics) {
        const summary = workload.summary[metric.id];
        assert.ok(
          summary?.ours !== undefined && summary.connectNode !== undefined,
          `${workload.id} ${metric.id}`,
        );
      }
    }
  });

  it("writes the markdown table", async () => {
    const table = await readFile(join(outDir, "transport.md"), "utf8");
    assert.match(
      table,
      /\| workload +\| metric +\| ours \(median, spread\) +\| connect-node \(median, spread\) +\|/,
    );
    assert.doesNotMatch(table, /NaN|failed|Failed runs/);
    for (const workload of results.workloads) assert.ok(table.includes(workload.title), workload.title);
  });
});
