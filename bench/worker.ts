// One client, one workload, one process: prints JSON lines on stdout, the last one
// `{"result": {...}}` or `{"error": "..."}`. Started by run-bench.ts:
//   node --expose-gc .worker/worker.js <client> <workload> <endpoint> <params JSON>  (see node-worker.ts)
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import type { BenchClient, BenchTls, NodeClientName } from "./bench-client.js";
import { deferred } from "./deferred.js";
import { fanInValue, sentAtMs } from "./fan-in-value.js";
import { cpuMicros, peakRssMb, processCpuMicros, quantile, settle } from "./measure.js";
import { createWallClock } from "./wall-clock.js";
import {
  backlogPrefix,
  type CatchUpParams,
  type FanInParams,
  fanPrefix,
  fanWriter,
  type KvParams,
  type LeasesParams,
  type Metrics,
  type WatchersParams,
  type WorkloadParams,
} from "./workloads.js";

// Calls that must start and finish inside a window for its figures to count.
const minSamples = 20;

function emit(line: object): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

// The parent drives the fan-in processes through stdin; stdin closing means the parent died.
const lines: string[] = [];
let lineWaiter: (() => void) | undefined;
const stdin = createInterface({ input: process.stdin });
stdin.on("line", (line) => {
  lines.push(line.trim());
  lineWaiter?.();
});
stdin.on("close", () => process.exit(3));

async function waitForLine(expected: string): Promise<void> {
  for (;;) {
    const line = lines.shift();
    if (line === expected) return;
    if (line === undefined) await new Promise<void>((resolve) => (lineWaiter = resolve));
  }
}

function randomKeys(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`);
}

/**
 * Runs `callers` loops of `op` on random keys: a warm-up (at least `warmupMs`, and until
 * `warmupCalls` calls have finished, within ten times the window's length), then a measured window.
 */
async function runCallers(
  callers: number,
  keys: readonly string[],
  op: (key: string) => Promise<void>,
  params: Pick<KvParams, "warmupMs" | "warmupCalls" | "durationMs" | "serverPid">,
  onWindow: () => void = () => undefined,
): Promise<{ ops: number; seconds: number; cpuUs: number; serverCpuUs: number; latencies: Float64Array }> {
  const { warmupMs, warmupCalls, durationMs, serverPid } = params;
  let measuring = false;
  let stopping = false;
  let windowStart = Number.POSITIVE_INFINITY;
  let calls = 0;
  let ops = 0;
  const latencies: number[] = [];
  const loop = async () => {
    while (!stopping) {
      const key = keys[Math.floor(Math.random() * keys.length)] as string;
      const started = performance.now();
      await op(key);
      calls++;
      if (measuring) {
        ops++;
        if (started >= windowStart) latencies.push(performance.now() - started);
      }
    }
  };
  const loops = Array.from({ length: callers }, loop);
  const failed = Promise.all(loops).then(() => undefined);
  const window = async () => {
    const warmedBy = performance.now() + 10 * durationMs;
    await sleep(warmupMs);
    while (calls < warmupCalls && !stopping && performance.now() < warmedBy) await sleep(20);
    measuring = true;
    windowStart = performance.now();
    onWindow();
    const cpuStart = cpuMicros();
    const serverCpuStart = processCpuMicros(serverPid);
    await sleep(durationMs);
    // On a loaded machine a short window can end before any call that started in it did: the
    // window grows until enough have (up to ten times its length), so no figure is NaN.
    const capAt = windowStart + 10 * durationMs;
    while (latencies.length < minSamples && performance.now() < capAt) await sleep(20);
    measuring = false;
    const seconds = (performance.now() - windowStart) / 1000;
    const cpuUs = cpuMicros() - cpuStart;
    const serverCpuUs = processCpuMicros(serverPid) - serverCpuStart;
    stopping = true;
    return { seconds, cpuUs, serverCpuUs };
  };
  // A failing call fails the run at once rather than after the window.
  const measured = await Promise.race([window(), failed.then(() => undefined)]);
  stopping = true;
  await failed;
  if (measured === undefined) throw new Error("callers stopped before the window ended");
  if (latencies.length === 0) {
    throw new Error(
      `no call that started in the ${durationMs} ms window finished within ${10 * durationMs} ms`,
    );
  }
  return { ops, ...measured, latencies: Float64Array.from(latencies).sort() };
}

async function kvWorkload(client: BenchClient, params: KvParams): Promise<Metrics> {
  const keys = randomKeys("k/", params.keys);
  const value = Buffer.alloc(params.valueBytes, "v");
  const op: (key: string) => Promise<void> =
    params.kind === "put"
      ? (key) => client.put(key, value)
      : params.kind === "txn"
        ? (key) => client.txnPut(key, value)
        : (key) => client.get(key, params.kind === "get-serializable");
  await client.warm();
  const run = await runCallers(params.concurrency, keys, op, params);
  return {
    opsPerSec: run.ops / run.seconds,
    p50Ms: quantile(run.latencies, 0.5),
    p99Ms: quantile(run.latencies, 0.99),
    cpuUsPerOp: run.cpuUs / run.ops,
    etcdCpuUsPerOp: run.serverCpuUs / run.ops,
    peakRssMb: peakRssMb(),
  };
}

// Delivery latency: this process's wall clock when the event arrives minus the send time the
// writer put in the value, both read on the same machine's clock. Go's watcher does the same.
async function fanInWatcher(client: BenchClient): Promise<Metrics> {
  const now = createWallClock();
  let counting = false;
  let events = 0;
  const delays: number[] = [];
  const close = await client.watchPrefix(fanPrefix, (value) => {
    if (!counting) return;
    events++;
    const sent = sentAtMs(value);
    if (!Number.isNaN(sent)) delays.push(now() - sent);
  });
  emit({ ready: true });
  await waitForLine("start");
  counting = true;
  const started = performance.now();
  const cpuStart = cpuMicros();
  await waitForLine("stop");
  counting = false;
  const delivered = events;
  const cpuUs = cpuMicros() - cpuStart;
  const seconds = (performance.now() - started) / 1000;
  await close();
  const latencies = Float64Array.from(delays).sort();
  return {
    eventsPerSec: delivered / seconds,
    cpuUsPerEvent: delivered > 0 ? cpuUs / delivered : Number.NaN,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    peakRssMb: peakRssMb(),
  };
}

async function fanInWriter(client: BenchClient, params: FanInParams): Promise<Metrics> {
  const keys = randomKeys(fanPrefix, params.keys);
  const now = createWallClock();
  await client.warm();
  emit({ ready: true });
  await waitForLine("start");
  // A fresh value per call: it carries the time the call was made.
  const write =
    params.writerBatch === 1
      ? (key: string) => client.put(key, fanInValue(now(), params.valueBytes))
      : (key: string) => {
          // A run of consecutive keys from a random start: one revision, many events.
          const start = Number(key.slice(fanPrefix.length)) % (keys.length - params.writerBatch);
          const value = fanInValue(now(), params.valueBytes);
          return client.putBatch(keys.slice(start, start + params.writerBatch), value);
        };
  // The orchestrator starts the watcher's count when the writer's window opens.
  const run = await runCallers(
    params.writerConcurrency,
    keys,
    write,
    { warmupMs: params.warmupMs, warmupCalls: 0, durationMs: params.durationMs },
    () => emit({ measuring: true }),
  );
  return { writesPerSec: (run.ops * params.writerBatch) / run.seconds };
}

// Catch-up: from the watch request to the backlog's last event. Nothing else writes under the
// backlog's prefix, so the count ends at exactly the events the orchestrator wrote.
async function catchUpWatcher(client: BenchClient, params: CatchUpParams): Promise<Metrics> {
  const { startRevision, events } = params;
  if (startRevision === undefined || events === undefined)
    throw new Error("catch-up: the orchestrator sets startRevision and events");
  await client.warm();
  const caughtUp = deferred<void>();
  let received = 0;
  const cpuStart = cpuMicros();
  const started = performance.now();
  const close = await client.watchPrefix(
    backlogPrefix,
    () => {
      if (++received === events) caughtUp.resolve();
    },
    startRevision,
  );
  await caughtUp.promise;
  const seconds = (performance.now() - started) / 1000;
  const cpuUs = cpuMicros() - cpuStart;
  await close();
  return {
    eventsPerSec: events / seconds,
    catchUpS: seconds,
    cpuUsPerEvent: cpuUs / events,
    peakRssMb: peakRssMb(),
  };
}

async function watchersWorkload(client: BenchClient, params: WatchersParams): Promise<Metrics> {
  const keys = randomKeys("w/", params.count);
  await client.warm();
  const before = await settle();
  const cpuStart = cpuMicros();
  const started = performance.now();
  const close = await client.watchKeys(keys);
  const createS = (performance.now() - started) / 1000;
  const createCpuMs = (cpuMicros() - cpuStart) / 1000;
  const after = await settle();
  await close();
  return {
    createS,
    rssKbPerWatcher: (after.rss - before.rss) / 1024 / params.count,
    heapKbPerWatcher: (after.heapUsed - before.heapUsed) / 1024 / params.count,
    createCpuMs,
    createCpuUsPerWatcher: (createCpuMs * 1000) / params.count,
    peakRssMb: peakRssMb(),
  };
}

// Memory per lease is the marginal cost: the growth from half the leases to all of them, each
// state read after the same keepalive window. Keepalive traffic of any size grows V8's young
// generation and code space once; charging that to each lease would measure the heap sizing.
async function leasesWorkload(client: BenchClient, params: LeasesParams): Promise<Metrics> {
  await client.warm();
  let keepAlives = 0;
  const onKeepAlive = () => {
    keepAlives++;
  };
  const half = Math.floor(params.count / 2);
  let started = performance.now();
  const first = await client.keepLeases(half, params.ttlSeconds, params.grantConcurrency, onKeepAlive);
  let createS = (performance.now() - started) / 1000;
  await first.answered;
  await settle();
  await sleep(params.baselineMs);
  const before = await settle();
  started = performance.now();
  const second = await client.keepLeases(
    params.count - half,
    params.ttlSeconds,
    params.grantConcurrency,
    onKeepAlive,
  );
  createS += (performance.now() - started) / 1000;
  await second.answered;
  await sleep(params.warmMs);
  // Collect the grants' garbage first: the window measures keeping alive, not granting.
  await settle();
  const cpuStart = cpuMicros();
  const serverCpuStart = processCpuMicros(params.serverPid);
  const windowStart = performance.now();
  const keepAlivesBefore = keepAlives;
  await sleep(params.windowMs);
  const cpuUs = cpuMicros() - cpuStart;
  const serverCpuUs = processCpuMicros(params.serverPid) - serverCpuStart;
  const answered = keepAlives - keepAlivesBefore;
  const seconds = (performance.now() - windowStart) / 1000;
  const after = await settle();
  await second.close();
  await first.close();
  const added = params.count - half;
  return {
    createS,
    rssKbPerLease: (after.rss - before.rss) / 1024 / added,
    heapKbPerLease: (after.heapUsed - before.heapUsed) / 1024 / added,
    cpuMsPer10kKeepAlives: answered > 0 ? (cpuUs / 1000 / answered) * 10_000 : Number.NaN,
    etcdCpuMsPer10kKeepAlives: answered > 0 ? (serverCpuUs / 1000 / answered) * 10_000 : Number.NaN,
    keepAlivesPerSec: answered / seconds,
    peakRssMb: peakRssMb(),
  };
}

function runWorkload(client: BenchClient, workload: string, params: WorkloadParams): Promise<Metrics> {
  switch (params.kind) {
    case "put":
    case "get-linearizable":
    case "get-serializable":
    case "txn":
      return kvWorkload(client, params);
    case "fan-in":
      return workload === fanWriter ? fanInWriter(client, params) : fanInWatcher(client);
    case "catch-up":
      return catchUpWatcher(client, params);
    case "watchers":
      return watchersWorkload(client, params);
    case "leases":
      return leasesWorkload(client, params);
  }
}

// Only the client under test is loaded, so the other one adds nothing to this process's RSS.
async function createBenchClient(
  name: string,
  endpoint: string,
  tls: BenchTls | undefined,
): Promise<BenchClient> {
  if (name === ("ours" satisfies NodeClientName))
    return (await import("./ours-client.js")).createOursClient(endpoint, tls);
  if (name === ("etcd3" satisfies NodeClientName))
    return (await import("./etcd3-client.js")).createEtcd3Client(endpoint, tls);
  throw new Error(`unknown client ${name}`);
}

async function main(): Promise<number> {
  const [name = "", workload = "", endpoint = "", paramsJson = "{}"] = process.argv.slice(2);
  const params = JSON.parse(paramsJson) as WorkloadParams;
  const client = await createBenchClient(name, endpoint, "tls" in params ? params.tls : undefined);
  try {
    const result = await runWorkload(client, workload, params);
    emit({ result });
    return 0;
  } catch (error) {
    emit({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    return 1;
  } finally {
    // A client that does not close promptly must not hold up the run.
    await Promise.race([client.close().catch(() => undefined), sleep(2000)]);
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    emit({ error: String(error) });
    process.exit(1);
  },
);
