// One transport, one workload, one process: prints one JSON line on stdout, `{"result": {...}}`
// or `{"error": "..."}`. Started by transport-run.ts:
//   node [--conditions=source] --import tsx --expose-gc transport-worker.ts <transport> <params JSON>
// Only the transport under test is loaded. Both go through Connect's `createClient(KV, transport)`
// with the same request objects; nothing of @etcd-connect/client is involved.
import { setTimeout as sleep } from "node:timers/promises";
import v8 from "node:v8";
import type { Transport } from "@connectrpc/connect";
import { type Client, createClient } from "@connectrpc/connect";
import { KV } from "@etcd-connect/api/etcdserverpb";
import { cpuMicros, quantile } from "./measure.js";
import type { TransportName, TransportParams } from "./transport-workloads.js";
import type { Metrics } from "./workloads.js";

function emit(line: object): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

// stdin closing means the orchestrator is gone: no worker outlives it.
process.stdin.on("close", () => process.exit(3));
process.stdin.resume();

interface TransportUnderTest {
  transport: Transport;
  close(): void;
}

async function createTransport(name: string, baseUrl: string): Promise<TransportUnderTest> {
  if (name === ("ours" satisfies TransportName)) {
    const { createGrpcTransport } = await import("@etcd-connect/transport");
    const transport = createGrpcTransport({ baseUrl });
    return { transport, close: () => transport.close() };
  }
  if (name === ("connect-node" satisfies TransportName)) {
    const { createGrpcTransport, Http2SessionManager } = await import("@connectrpc/connect-node");
    // The session manager connect-node would create by itself, passed in only so it can be closed.
    // Its gRPC transport is always HTTP/2 (node:http2): it sets `httpVersion: "2"` itself.
    const sessionManager = new Http2SessionManager(baseUrl);
    const transport = createGrpcTransport({ baseUrl, sessionManager });
    return { transport, close: () => sessionManager.abort() };
  }
  throw new Error(`unknown transport ${name}`);
}

/**
 * Allocation in the V8 heap over a window. Node 20 has no cumulative allocation counter, so it is
 * rebuilt from the heap's used size: what the heap grew by, plus what every GC in between freed
 * (used size before the GC − after it, from `v8.GCProfiler`). Between two GCs the used size only
 * grows by allocation, so the sum is the bytes allocated. ArrayBuffer backing stores (Buffers)
 * live outside the V8 heap and are not counted.
 */
class HeapWindow {
  private readonly profiler = new v8.GCProfiler();
  private readonly usedAtStart: number;

  constructor() {
    this.usedAtStart = v8.getHeapStatistics().used_heap_size;
    this.profiler.start();
  }

  stop(): { allocatedBytes: number; gcs: number; gcPauseUs: number } {
    const usedAtEnd = v8.getHeapStatistics().used_heap_size;
    const profile = this.profiler.stop();
    let freed = 0;
    let gcPauseUs = 0;
    let gcs = 0;
    for (const gc of profile?.statistics ?? []) {
      freed += gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize;
      // Main-thread time of the GC, incremental-marking steps included.
      gcPauseUs += gc.cost;
      if (gc.gcType === "Scavenge" || gc.gcType === "MarkSweepCompact" || gc.gcType === "MinorMarkCompact")
        gcs++;
    }
    return { allocatedBytes: usedAtEnd - this.usedAtStart + freed, gcs, gcPauseUs };
  }
}

interface Window {
  ops: number;
  seconds: number;
  cpuUs: number;
  latencies: Float64Array;
  allocatedBytes: number;
  gcs: number;
  gcPauseUs: number;
}

/**
 * Runs `callers` loops of `op` on random keys: a warm-up, then a measured window. Every figure
 * counts the same calls, those completed inside the window (latency from their start, which may
 * be in the warm-up); a window in which none completed is an error, never a NaN.
 */
async function runCallers(
  callers: number,
  keys: readonly Uint8Array[],
  op: (key: Uint8Array) => Promise<unknown>,
  warmupMs: number,
  durationMs: number,
): Promise<Window> {
  let measuring = false;
  let stopping = false;
  let ops = 0;
  const latencies: number[] = [];
  const loop = async () => {
    while (!stopping) {
      const key = keys[Math.floor(Math.random() * keys.length)] as Uint8Array;
      const started = performance.now();
      await op(key);
      if (measuring) {
        ops++;
        latencies.push(performance.now() - started);
      }
    }
  };
  const loops = Promise.all(Array.from({ length: callers }, loop));
  const window = async () => {
    await sleep(warmupMs);
    const heap = new HeapWindow();
    const started = performance.now();
    const cpuStart = cpuMicros();
    measuring = true;
    await sleep(durationMs);
    // One synchronous step: no call completes between these readings.
    measuring = false;
    stopping = true;
    const seconds = (performance.now() - started) / 1000;
    const cpuUs = cpuMicros() - cpuStart;
    return { seconds, cpuUs, ...heap.stop() };
  };
  // A failing call fails the run at once rather than after the window.
  const measured = await Promise.race([window(), loops.then(() => undefined)]);
  stopping = true;
  await loops;
  if (measured === undefined) throw new Error("callers stopped before the window ended");
  if (ops === 0) {
    throw new Error(
      `no call completed in the ${durationMs} ms window (${callers} callers): the machine is too loaded ` +
        "or etcd stalled; no figure can be computed",
    );
  }
  return { ops, ...measured, latencies: Float64Array.from(latencies).sort() };
}

function kvOp(kv: Client<typeof KV>, params: TransportParams): (key: Uint8Array) => Promise<unknown> {
  const value = new Uint8Array(params.valueBytes).fill(0x76); // "v"
  switch (params.kind) {
    case "put":
      return (key) => kv.put({ key, value });
    case "range-serializable":
      return (key) => kv.range({ key, serializable: true });
  }
}

async function run(kv: Client<typeof KV>, params: TransportParams): Promise<Metrics> {
  const encoder = new TextEncoder();
  // Keys encoded up front: both transports get the very same request objects.
  const keys = Array.from({ length: params.keys }, (_, i) => encoder.encode(`k/${i}`));
  const op = kvOp(kv, params);
  // One completed call first, so the connection is up before anything is timed.
  await kv.range({ key: encoder.encode("warm-up"), serializable: true });
  globalThis.gc?.();
  const w = await runCallers(params.concurrency, keys, op, params.warmupMs, params.durationMs);
  return {
    opsPerSec: w.ops / w.seconds,
    p50Ms: quantile(w.latencies, 0.5),
    p99Ms: quantile(w.latencies, 0.99),
    cpuUsPerOp: w.cpuUs / w.ops,
    heapKbPerOp: w.allocatedBytes / 1024 / w.ops,
    gcMsPer10kOps: (w.gcPauseUs / 1000 / w.ops) * 10_000,
    gcsPer10kOps: (w.gcs / w.ops) * 10_000,
  };
}

async function main(): Promise<number> {
  const [name = "", paramsJson = "{}"] = process.argv.slice(2);
  if (globalThis.gc === undefined) throw new Error("run the worker with --expose-gc");
  const params = JSON.parse(paramsJson) as TransportParams;
  const { transport, close } = await createTransport(name, params.endpoint);
  try {
    emit({ result: await run(createClient(KV, transport), params) });
    return 0;
  } catch (error) {
    emit({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    return 1;
  } finally {
    close();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    emit({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    process.exit(1);
  },
);
