import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { integrationOptions } from "@etcd-connect/testing";
import { clientNames } from "./bench-client.js";
import type { BenchResults } from "./results.js";
import { runBench } from "./run-bench.js";
import { workloads } from "./workloads.js";

// The figure that shows a workload did real work, per kind of workload.
const throughput: Record<string, string> = {
  put: "opsPerSec",
  "get-linearizable": "opsPerSec",
  "get-serializable": "opsPerSec",
  txn: "opsPerSec",
  "fan-in": "eventsPerSec",
  watchers: "createS",
  leases: "keepAlivesPerSec",
};

describe("bench, quick mode against a real etcd", { ...integrationOptions(), timeout: 180_000 }, () => {
  let outDir: string;
  let results: BenchResults;

  before(async () => {
    outDir = await mkdtemp(join(tmpdir(), "etcd-connect-bench-test-"));
    await runBench({ quick: true, outDir });
    results = JSON.parse(await readFile(join(outDir, "latest.json"), "utf8")) as BenchResults;
  });

  after(() => (outDir === undefined ? undefined : rm(outDir, { recursive: true, force: true })));

  it("has every workload, for both clients, with positive figures", () => {
    assert.deepEqual(
      results.workloads.map((w) => w.id),
      workloads(true).map((w) => w.id),
    );
    for (const workload of results.workloads) {
      const metric = throughput[workload.params.kind];
      assert.ok(metric, `no throughput metric for ${workload.params.kind}`);
      for (const client of clientNames) {
        const runs = workload.runs[client];
        assert.equal(runs.length, results.rounds, `${workload.id} ${client}: rounds`);
        for (const run of runs) {
          assert.ok("metrics" in run, `${workload.id} ${client} failed: ${"error" in run ? run.error : ""}`);
          const value = run.metrics[metric];
          assert.ok(value !== undefined && value > 0, `${workload.id} ${client}: ${metric} = ${value}`);
        }
        assert.ok((workload.summary[metric]?.[client]?.median ?? 0) > 0, `${workload.id} ${client}: median`);
      }
    }
  });

  it("writes the markdown table and the chart", async () => {
    const table = await readFile(join(outDir, "latest.md"), "utf8");
    assert.match(
      table,
      /\| workload +\| metric +\| ours \(median, spread\) +\| etcd3 \(median, spread\) +\|/,
    );
    for (const workload of results.workloads) assert.ok(table.includes(workload.title), workload.title);
    const svg = await readFile(join(outDir, "latest.svg"), "utf8");
    assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.match(svg, /<\/svg>\n$/);
  });
});
