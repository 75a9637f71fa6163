// runTransportBench(): one etcd, the transport workloads, both transports alternating in fresh
// worker processes, then transport.json and transport.md. The entry is transport-bench.ts.

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "@etcd-connect/client";
import { startEtcd } from "@etcd-connect/testing";
import { deferred } from "./deferred.js";
import { compact, prepopulate } from "./etcd-seed.js";
import { alignedTable, formatNumber } from "./report.js";
import { type Run, type Spread, spread } from "./stats.js";
import {
  type TransportName,
  type TransportParams,
  type TransportWorkload,
  transportMetrics,
  transportNames,
  transportRounds,
  transportWorkloads,
} from "./transport-workloads.js";
import type { Metrics } from "./workloads.js";

export interface TransportBenchOptions {
  /** One short round per transport instead of three. */
  quick: boolean;
  /** Where transport.json and transport.md go. */
  outDir: string;
  /** Progress lines. Default: none. */
  log?: (line: string) => void;
}

export interface TransportMetricSummary {
  ours: Spread | undefined;
  connectNode: Spread | undefined;
  /** ours median / connect-node median. */
  ratio: number | undefined;
}

export interface TransportWorkloadResult extends TransportWorkload {
  runs: Record<TransportName, Run[]>;
  summary: Record<string, TransportMetricSummary>;
}

/** What transport.json holds. */
export interface TransportBenchResults {
  startedAt: string;
  finishedAt: string;
  durationS: number;
  quick: boolean;
  rounds: number;
  machine: {
    cpus: number;
    cpuModel: string;
    os: string;
    node: string;
    etcd: string;
    connectNode: string;
    /** Whether the workers ran the TypeScript sources (tsx) rather than the packages' dist/. */
    sources: boolean;
    loadStart: number;
    loadEnd: number;
  };
  workloads: TransportWorkloadResult[];
}

const workerPath = join(import.meta.dirname, "transport-worker.ts");
const workerTimeoutMs = 60_000;

/** The version of an installed package whose exports hide its package.json. */
function packageVersion(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.resolve(name)));
  for (;;) {
    const path = join(dir, "package.json");
    if (existsSync(path)) {
      const json = JSON.parse(readFileSync(path, "utf8")) as { name?: string; version?: string };
      if (json.name === name) return json.version ?? "unknown";
    }
    if (dirname(dir) === dir) return "unknown";
    dir = dirname(dir);
  }
}
// The workers load the packages as this process does: the sources when it runs with
// `--conditions=source` (as `npm run bench:transport` does, so no build is needed), else dist/.
const sources = fileURLToPath(import.meta.resolve("@etcd-connect/transport")).endsWith(".ts");

const running = new Set<ChildProcess>();

/** SIGKILLs every transport worker still running; called in `finally`, on exit and on signals. */
export function killTransportWorkers(): void {
  for (const child of running) child.kill("SIGKILL");
  running.clear();
}
process.on("exit", killTransportWorkers);

/** Runs one worker to its JSON result; it is SIGKILLed on timeout and exits itself if we die. */
function runWorker(transport: TransportName, params: TransportParams): Promise<Metrics> {
  const child = spawn(
    process.execPath,
    [
      ...(sources ? ["--conditions=source"] : []),
      "--import",
      "tsx",
      "--expose-gc",
      workerPath,
      transport,
      JSON.stringify(params),
    ],
    { cwd: import.meta.dirname, stdio: ["pipe", "pipe", "pipe"] },
  );
  running.add(child);
  const result = deferred<Metrics>();
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  child.stdin.on("error", () => undefined); // the worker may be gone already
  const timer = setTimeout(() => {
    result.reject(new Error(`${transport} ${params.kind}: no result after ${workerTimeoutMs} ms`));
    child.kill("SIGKILL");
  }, workerTimeoutMs);
  child.on("exit", (code, signal) => {
    clearTimeout(timer);
    running.delete(child);
    for (const line of stdout.split("\n")) {
      let message: { result?: Metrics; error?: string };
      try {
        message = JSON.parse(line) as typeof message;
      } catch {
        continue; // not ours: a library printing to stdout
      }
      if (message.result !== undefined) result.resolve(message.result);
      if (message.error !== undefined) result.reject(new Error(message.error));
    }
    result.reject(new Error(`worker exited (${signal ?? code}) without a result\n${stderr}`));
  });
  return result.promise;
}

function summarize(runs: Record<TransportName, Run[]>): Record<string, TransportMetricSummary> {
  const values = (transport: TransportName, metric: string) =>
    runs[transport].flatMap((run) => ("metrics" in run ? [run.metrics[metric] ?? Number.NaN] : []));
  const summary: Record<string, TransportMetricSummary> = {};
  for (const metric of transportMetrics) {
    const ours = spread(values("ours", metric.id));
    const connectNode = spread(values("connect-node", metric.id));
    const ratio =
      ours !== undefined && connectNode !== undefined && connectNode.median !== 0
        ? ours.median / connectNode.median
        : undefined;
    summary[metric.id] = { ours, connectNode, ratio };
  }
  return summary;
}

function formatSpread(value: Spread | undefined, digits: number): string {
  if (value === undefined) return "failed";
  const median = formatNumber(value.median, digits);
  if (value.rounds < 2) return median;
  return `${median} (${formatNumber(value.min, digits)}–${formatNumber(value.max, digits)})`;
}

/** The results as a markdown table, with a line on how and where they were taken. */
export function transportMarkdown(results: TransportBenchResults): string {
  const m = results.machine;
  const lines = [
    `Run ${results.startedAt.slice(0, 16).replace("T", " ")} UTC${results.quick ? " (quick mode)" : ""}: ` +
      `${m.cpus} × ${m.cpuModel}, Node ${m.node}, etcd ${m.etcd} (data on tmpfs), ` +
      `@connectrpc/connect-node ${m.connectNode}, ours from ${m.sources ? "sources (tsx)" : "dist/"}; ` +
      `${results.rounds} round(s) per transport, alternating; load ${m.loadStart.toFixed(2)} → ` +
      `${m.loadEnd.toFixed(2)}; took ${Math.round(results.durationS)} s. ` +
      "Cells: median (min–max over rounds). Ratio: ours/connect-node of the medians.",
    "",
  ];
  const rows: string[][] = [
    ["workload", "metric", "ours (median, spread)", "connect-node (median, spread)", "ratio"],
  ];
  const failures: string[] = [];
  for (const workload of results.workloads) {
    transportMetrics.forEach((metric, index) => {
      const s = workload.summary[metric.id];
      rows.push([
        index === 0 ? workload.title : "",
        metric.label,
        formatSpread(s?.ours, metric.digits),
        formatSpread(s?.connectNode, metric.digits),
        s?.ratio === undefined ? "–" : `${s.ratio.toFixed(2)}x`,
      ]);
    });
    for (const [transport, runs] of Object.entries(workload.runs)) {
      for (const run of runs) {
        if ("error" in run) {
          failures.push(`- ${workload.id}, ${transport}, round ${run.round}: ${run.error.split("\n")[0]}`);
        }
      }
    }
  }
  lines.push(...alignedTable(rows));
  if (failures.length > 0) lines.push("", "Failed runs:", "", ...failures);
  return `${lines.join("\n")}\n`;
}

function headline(metrics: Metrics): string {
  const { opsPerSec = Number.NaN, cpuUsPerOp = Number.NaN, p99Ms = Number.NaN } = metrics;
  return `${opsPerSec.toFixed(0)} ops/s, ${cpuUsPerOp.toFixed(1)} µs CPU/op, p99 ${p99Ms.toFixed(2)} ms`;
}

/**
 * Starts one etcd (data on tmpfs), writes the keys, runs every workload for both transports in
 * alternating worker processes, and writes transport.json and transport.md to `outDir`. Every
 * worker and etcd are stopped before it returns or throws.
 */
export async function runTransportBench(options: TransportBenchOptions): Promise<TransportBenchResults> {
  const log = options.log ?? (() => undefined);
  const startedAt = new Date();
  const loadStart = os.loadavg()[0] ?? 0;
  const rounds = transportRounds(options.quick);
  const plan = transportWorkloads(options.quick);
  const etcd = await startEtcd();
  const admin = createClient({ endpoints: [etcd.clientUrl] });
  try {
    const status = await admin.maintenance.status(etcd.clientUrl);
    log(`etcd ${status.version} at ${etcd.clientUrl}, data dir ${etcd.dataDir}`);
    const { keys, valueBytes } = plan[0]?.params ?? { keys: 0, valueBytes: 0 };
    await prepopulate(admin, keys, valueBytes);
    const results: TransportWorkloadResult[] = [];
    for (const workload of plan) {
      const runs: Record<TransportName, Run[]> = { ours: [], "connect-node": [] };
      for (let round = 1; round <= rounds; round++) {
        for (const transport of transportNames) {
          const started = performance.now();
          const took = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
          const progress = `${workload.id} ${transport} round ${round}/${rounds}`;
          try {
            const metrics = await runWorker(transport, { ...workload.params, endpoint: etcd.clientUrl });
            runs[transport].push({ round, metrics });
            log(`${progress} (${took()}): ${headline(metrics)}`);
          } catch (error) {
            const message = error instanceof Error ? error.message : String(error);
            runs[transport].push({ round, error: message });
            log(`${progress} (${took()}) FAILED: ${message}`);
          }
          await compact(admin);
        }
      }
      results.push({ ...workload, runs, summary: summarize(runs) });
    }
    const cpus = os.cpus();
    const finishedAt = new Date();
    const bench: TransportBenchResults = {
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationS: (finishedAt.getTime() - startedAt.getTime()) / 1000,
      quick: options.quick,
      rounds,
      machine: {
        cpus: cpus.length,
        cpuModel: cpus[0]?.model.trim() ?? "unknown",
        os: `${os.type()} ${os.release()}`,
        node: process.version,
        etcd: status.version,
        connectNode: packageVersion("@connectrpc/connect-node"),
        sources,
        loadStart,
        loadEnd: os.loadavg()[0] ?? 0,
      },
      workloads: results,
    };
    await mkdir(options.outDir, { recursive: true });
    await writeFile(join(options.outDir, "transport.json"), `${JSON.stringify(bench, null, 2)}\n`);
    await writeFile(join(options.outDir, "transport.md"), transportMarkdown(bench));
    return bench;
  } finally {
    killTransportWorkers();
    await admin.close();
    await etcd.close();
  }
}
