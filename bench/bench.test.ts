import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { integrationOptions } from "@etcd-connect/testing";
import { type ClientName, clientNames } from "./bench-client.js";
import { type BenchResults, goNotAvailable } from "./results.js";
import { runBench } from "./run-bench.js";
import { roundsOf, workloads } from "./workloads.js";

// The figure that shows a workload did real work, per kind of workload.
const throughput: Record<string, string> = {
  put: "opsPerSec",
  "get-linearizable": "opsPerSec",
  "get-serializable": "opsPerSec",
  txn: "opsPerSec",
  "fan-in": "eventsPerSec",
  "catch-up": "eventsPerSec",
  watchers: "createS",
  leases: "keepAlivesPerSec",
};

// The workloads that report etcd's CPU per call (leases report it per 10k keepalives).
const hasServerCpu = (kind: string) =>
  kind !== "fan-in" && kind !== "catch-up" && kind !== "watchers" && kind !== "leases";

// The quick run takes about 95 s on 2 cores; a first Go build (clientv3, gRPC) adds 15–20 s.
describe("bench, quick mode against a real etcd", { ...integrationOptions(), timeout: 300_000 }, () => {
  let outDir: string;
  let results: BenchResults;

  before(async () => {
    outDir = await mkdtemp(join(tmpdir(), "etcd-connect-bench-test-"));
    await runBench({ quick: true, outDir });
    results = JSON.parse(await readFile(join(outDir, "latest.json"), "utf8")) as BenchResults;
  });

  after(() => (outDir === undefined ? undefined : rm(outDir, { recursive: true, force: true })));

  // Where Go is installed (this repo's machines are), the test runs it for real; elsewhere the
  // bench must still run, say why Go is missing, and leave Go's runs empty.
  const goRan = () => !results.machine.go.startsWith(goNotAvailable);
  const clientsRun = (): readonly ClientName[] =>
    goRan() ? clientNames : clientNames.filter((client) => client !== "go");

  it("says which Go client ran, or why none did", () => {
    // With Go and clientv3's sources installed, a Go that did not run is a broken build, not a
    // machine without Go.
    const gopath = process.env.BENCH_GOPATH ?? "/usr/share/gocode";
    const goInstalled =
      spawnSync("go", ["version"]).status === 0 &&
      existsSync(join(gopath, "src/go.etcd.io/etcd/clientv3/client.go"));
    if (goInstalled && process.env.BENCH_GO !== "0")
      assert.ok(goRan(), `Go did not run: ${results.machine.go}`);
    if (goRan()) {
      assert.match(results.machine.go, /^clientv3 \d+\.\d+\.\d+ \(go\d/);
      return;
    }
    assert.ok(results.machine.go.length > goNotAvailable.length, "no reason given");
    for (const workload of results.workloads) assert.deepEqual(workload.runs.go, [], workload.id);
  });

  it("has every workload, for every client that ran, with positive figures", () => {
    assert.deepEqual(
      results.workloads.map((w) => w.id),
      workloads(true)
        .filter((w) => w.scale !== true)
        .map((w) => w.id),
    );
    for (const workload of results.workloads) {
      const metric = throughput[workload.params.kind];
      assert.ok(metric, `no throughput metric for ${workload.params.kind}`);
      for (const client of clientsRun()) {
        const runs = workload.runs[client];
        assert.equal(runs.length, roundsOf(workload, true), `${workload.id} ${client}: rounds`);
        for (const run of runs) {
          assert.ok("metrics" in run, `${workload.id} ${client} failed: ${"error" in run ? run.error : ""}`);
          const value = run.metrics[metric];
          assert.ok(value !== undefined && value > 0, `${workload.id} ${client}: ${metric} = ${value}`);
        }
        assert.ok((workload.summary[metric]?.[client]?.median ?? 0) > 0, `${workload.id} ${client}: median`);
        // The writer's send time travels in the value; every watcher must have read it.
        if (workload.params.kind === "fan-in") {
          const p99 = workload.summary.p99Ms?.[client]?.median ?? Number.NaN;
          assert.ok(p99 > 0, `${workload.id} ${client}: p99 delivery latency = ${p99}`);
        }
        // etcd's CPU over the window: the worker was given etcd's pid and read its /proc entry.
        // /proc counts in 10 ms ticks, and a client that stalls through the quick run's 400 ms
        // window may leave etcd idle (etcd3's serializable gets read 0 once in CI), so one client's
        // zero is a figure, not a missing reading; a reading that never moves is checked below.
        if (hasServerCpu(workload.params.kind)) {
          const server = workload.summary.etcdCpuUsPerOp?.[client]?.median ?? Number.NaN;
          assert.ok(server >= 0, `${workload.id} ${client}: etcd CPU/op = ${server}`);
        }
      }
      if (hasServerCpu(workload.params.kind)) {
        const busiest = Math.max(
          ...clientsRun().map((client) => workload.summary.etcdCpuUsPerOp?.[client]?.median ?? 0),
        );
        assert.ok(busiest > 0, `${workload.id}: etcd CPU/op is 0 for every client`);
      }
    }
  });

  it("writes the markdown table and the chart", async () => {
    const table = await readFile(join(outDir, "latest.md"), "utf8");
    assert.match(
      table,
      /\| workload +\| metric +\| ours +\| etcd3 +\| Go +\| ours\/etcd3 +\| ours\/Go +\| targets +\| pass +\|/,
    );
    assert.match(table, /Targets met: \d+ of \d+\./);
    for (const workload of results.workloads) assert.ok(table.includes(workload.title), workload.title);
    const svg = await readFile(join(outDir, "latest.svg"), "utf8");
    assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.match(svg, /<\/svg>\n$/);
  });
});
