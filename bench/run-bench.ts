import { mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import { join } from "node:path";
import { type Client, createClient } from "@etcd-connect/client";
import { startEtcd } from "@etcd-connect/testing";
import { type ClientName, clientNames } from "./bench-client.js";
import { chartSvg } from "./chart-svg.js";
import { compact, prepopulate, revokeLeases, writeBacklog } from "./etcd-seed.js";
import { type GoWorker, prepareGoWorker } from "./go-worker.js";
import { type NodeWorker, prepareNodeWorker } from "./node-worker.js";
import { markdownTable, updateReadme } from "./report.js";
import { type BenchResults, goNotAvailable, type WorkloadResult } from "./results.js";
import { type Runs, summarize } from "./stats.js";
import { killWorkers, startWorker, type WorkerCommand } from "./worker-process.js";
import {
  fanWriter,
  isKvParams,
  kvRounds,
  type Metrics,
  rounds,
  roundsOf,
  settleRoundsOf,
  type Workload,
  type WorkloadParams,
  workloads,
} from "./workloads.js";

export interface BenchOptions {
  /** ~30 s smoke run: one round, short windows, fewer watchers and leases. */
  quick: boolean;
  /** Where latest.json, latest.md and latest.svg go. */
  outDir: string;
  /** A README whose results block is replaced by the table; none when undefined. */
  readmePath?: string | undefined;
  /** Progress lines. Default: none. */
  log?: (line: string) => void;
  /** Runs only the workloads with these ids (a partial run never rewrites the README). */
  only?: readonly string[] | undefined;
  /** Adds the scale ramp (100,000 watchers and leases) to the default plan. */
  scale?: boolean;
}

const workerTimeoutMs = 120_000;
const etcd3Package = createRequire(import.meta.url)("etcd3/package.json") as { version: string };

/** Where a workload runs: the member, its admin client, and the parameters as the worker gets them. */
interface Target {
  endpoint: string;
  admin: Client;
  params: WorkloadParams;
}

/**
 * `params` with etcd's pid for the workloads whose worker reads etcd's CPU over its window (KV and
 * leases). Fan-in's etcd CPU would be mostly the writer's, and watcher creation is not a window.
 */
function withServerPid(params: WorkloadParams, pid: number): WorkloadParams {
  return params.kind === "fan-in" || params.kind === "catch-up" || params.kind === "watchers"
    ? params
    : { ...params, serverPid: pid };
}

async function runOnce(
  workload: Workload,
  command: WorkerCommand,
  node: NodeWorker,
  { endpoint, admin, params }: Target,
): Promise<Metrics> {
  if (params.kind === "catch-up") {
    // The backlog is written anew for every watcher: the compaction after each run removes it.
    const backlog = await writeBacklog(admin, params);
    const behind = { ...params, ...backlog };
    return startWorker({
      command,
      workload: workload.id,
      endpoint,
      params: behind,
      timeoutMs: workerTimeoutMs,
    }).result;
  }
  const start = (as: WorkerCommand, id: string) =>
    startWorker({ command: as, workload: id, endpoint, params, timeoutMs: workerTimeoutMs });
  if (params.kind !== "fan-in") return start(command, workload.id).result;
  // Fan-in: the watcher (the client under test) and a writer (always ours) in separate
  // processes; the watcher counts events between "start" and "stop", which span the writer's
  // measured window, after its warm-up.
  const watcher = start(command, workload.id);
  const writer = start({ client: "ours", node }, fanWriter);
  try {
    await Promise.all([watcher.ready, writer.ready]);
    writer.send("start");
    await writer.measuring;
    watcher.send("start");
    const written = await writer.result;
    watcher.send("stop");
    return { ...(await watcher.result), writesPerSec: written.writesPerSec ?? Number.NaN };
  } finally {
    // Whatever failed, neither process outlives this round.
    watcher.send("stop");
    writer.result.catch(() => undefined);
    watcher.result.catch(() => undefined);
  }
}

// The workload's first three figures, in its order (Go's worker prints its figures sorted by name).
function headline(workload: Workload, metrics: Metrics): string {
  return workload.metrics
    .slice(0, 3)
    .map(({ id }) => {
      const value = metrics[id] ?? Number.NaN;
      return `${id} ${Number.isFinite(value) ? value.toFixed(value >= 100 ? 0 : 2) : "n/a"}`;
    })
    .join(", ");
}

/**
 * Writes latest.json, latest.md and latest.svg to `outDir`, and the table into the README's
 * results block when `readmePath` is given.
 */
export async function writeReports(
  results: BenchResults,
  outDir: string,
  readmePath: string | undefined,
  log: (line: string) => void = () => undefined,
): Promise<void> {
  await mkdir(outDir, { recursive: true });
  const table = markdownTable(results);
  await writeFile(join(outDir, "latest.json"), `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(join(outDir, "latest.md"), table);
  await writeFile(join(outDir, "latest.svg"), chartSvg(results));
  if (readmePath !== undefined && !(await updateReadme(readmePath, table))) {
    log(`${readmePath} has no results markers; left unchanged`);
  }
}

/** How to start a client's worker; undefined when it cannot run (Go not available). */
function commandFor(client: ClientName, node: NodeWorker, go: GoWorker): WorkerCommand | undefined {
  if (client !== "go") return { client, node };
  return go.available ? { client, bin: go.bin } : undefined;
}

/**
 * Starts etcd, runs every workload for every client (ours, etcd3, Go when it could be built) in
 * alternating worker processes, and writes latest.json, latest.md and latest.svg (and the
 * README block when asked).
 */
export async function runBench(options: BenchOptions): Promise<BenchResults> {
  const log = options.log ?? (() => undefined);
  const startedAt = new Date();
  const loadStart = os.loadavg()[0] ?? 0;
  const plan = workloads(options.quick).filter((w) =>
    options.only === undefined ? w.scale !== true || options.scale === true : options.only.includes(w.id),
  );
  if (plan.length === 0) throw new Error(`no workload matches ${options.only?.join(", ")}`);
  const node = await prepareNodeWorker();
  const go = await prepareGoWorker(log);
  log(
    go.available ? `Go client: ${go.version}` : `Go client ${goNotAvailable}${go.reason}; running without it`,
  );
  const etcd = await startEtcd();
  const admin = createClient({ endpoints: [etcd.clientUrl] });
  // A second member that serves mutual TLS, only when a workload needs it.
  const secure = plan.some((w) => w.mtls === true)
    ? await startEtcd({ tls: { clientCertAuth: true } })
    : undefined;
  const secureAdmin =
    secure === undefined
      ? undefined
      : createClient({
          endpoints: [secure.clientUrl],
          ...(secure.clientTls ? { tls: secure.clientTls } : {}),
        });
  try {
    const status = await admin.maintenance.status(etcd.clientUrl);
    log(`etcd ${status.version} at ${etcd.clientUrl}, data dir ${etcd.dataDir}`);
    await prepopulate(admin, 10_000, 256);
    if (secure !== undefined && secureAdmin !== undefined) {
      log(`etcd with mutual TLS at ${secure.clientUrl}`);
      await prepopulate(secureAdmin, 10_000, 256);
    }
    const targetOf = (workload: Workload): Target => {
      const files = secure?.certificates;
      if (workload.mtls !== true)
        return { endpoint: etcd.clientUrl, admin, params: withServerPid(workload.params, etcd.pid) };
      if (secure === undefined || secureAdmin === undefined || files === undefined)
        throw new Error(`${workload.id} needs the mutual-TLS member`);
      const { params } = workload;
      if (!isKvParams(params)) throw new Error(`${workload.id}: mutual TLS is measured on KV workloads only`);
      const tls = { ca: files.ca.certPath, cert: files.client.certPath, key: files.client.keyPath };
      return {
        endpoint: secure.clientUrl,
        admin: secureAdmin,
        params: withServerPid({ ...params, tls }, secure.pid),
      };
    };
    const results: WorkloadResult[] = [];
    for (const workload of plan) {
      const target = targetOf(workload);
      const runs: Runs = { ours: [], etcd3: [], go: [] };
      const roundCount = roundsOf(workload, options.quick);
      for (let settle = 1; settle <= settleRoundsOf(workload, options.quick); settle++) {
        // Ours settles the member: it is the client that can always run.
        await runOnce(workload, { client: "ours", node }, node, target).then(
          () => log(`${workload.id} settling round ${settle} (not recorded)`),
          (error: unknown) =>
            log(`${workload.id} settling round ${settle} FAILED (not recorded): ${String(error)}`),
        );
        await compact(target.admin);
      }
      for (let round = 1; round <= roundCount; round++) {
        for (const client of clientNames) {
          const command = commandFor(client, node, go);
          if (command === undefined) continue;
          const started = performance.now();
          const took = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
          let metrics: Metrics | undefined;
          try {
            metrics = await runOnce(workload, command, node, target);
          } catch (error) {
            const message = error instanceof Error ? error.message : String(error);
            runs[client].push({ round, error: message });
            log(`${workload.id} ${client} round ${round}/${roundCount} (${took()}) FAILED: ${message}`);
          }
          // Logged outside the try: a round is recorded once, whatever its log line does.
          if (metrics !== undefined) {
            runs[client].push({ round, metrics });
            log(
              `${workload.id} ${client} round ${round}/${roundCount} (${took()}): ${headline(workload, metrics)}`,
            );
          }
          if (target.params.kind === "leases") await revokeLeases(target.admin);
          await compact(target.admin);
        }
      }
      results.push({
        id: workload.id,
        title: workload.title,
        params: workload.params,
        runs,
        summary: summarize(workload, runs),
      });
    }
    const cpus = os.cpus();
    const finishedAt = new Date();
    const bench: BenchResults = {
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationS: (finishedAt.getTime() - startedAt.getTime()) / 1000,
      quick: options.quick,
      rounds: rounds(options.quick),
      kvRounds: kvRounds(options.quick),
      machine: {
        cpus: cpus.length,
        cpuModel: cpus[0]?.model.trim() ?? "unknown",
        os: `${os.type()} ${os.release()}`,
        totalMemoryGb: Math.round(os.totalmem() / 2 ** 30),
        node: process.version,
        etcd: status.version,
        etcd3: etcd3Package.version,
        go: go.available ? go.version : `${goNotAvailable}${go.reason}`,
        loadStart,
        loadEnd: os.loadavg()[0] ?? 0,
      },
      workloads: results,
    };
    await writeReports(bench, options.outDir, options.readmePath, log);
    return bench;
  } finally {
    killWorkers();
    await admin.close();
    await secureAdmin?.close();
    await etcd.close();
    await secure?.close();
  }
}
