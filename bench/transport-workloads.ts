// The transport bench's workloads, metrics and names, shared by the orchestrator
// (transport-run.ts) and the measuring process (transport-worker.ts).
import type { MetricSpec } from "./workloads.js";

/** The two transports under test; each runs in its own worker process. */
export type TransportName = "ours" | "connect-node";

export const transportNames: readonly TransportName[] = ["ours", "connect-node"];

/** What a worker is told to do: the same KV calls through Connect's generated client. */
export interface TransportParams {
  kind: "put" | "range-serializable";
  /** etcd's client URL. */
  endpoint: string;
  concurrency: number;
  /** Keys `k/0` … `k/<keys-1>`, all written before the first run. */
  keys: number;
  valueBytes: number;
  warmupMs: number;
  durationMs: number;
}

export interface TransportWorkload {
  id: string;
  title: string;
  params: Omit<TransportParams, "endpoint">;
}

/** Metric ids, labels and decimals. A metric with `zeroOk` may read 0 (no GC in a short window). */
export const transportMetrics: (MetricSpec & { zeroOk?: boolean })[] = [
  { id: "opsPerSec", label: "ops/s", better: "higher", digits: 0 },
  { id: "p50Ms", label: "p50 latency (ms)", better: "lower", digits: 2 },
  { id: "p99Ms", label: "p99 latency (ms)", better: "lower", digits: 2 },
  { id: "cpuUsPerOp", label: "CPU/op (µs)", better: "lower", digits: 1 },
  { id: "heapKbPerOp", label: "JS heap allocated/op (KB)", better: "lower", digits: 2 },
  { id: "gcMsPer10kOps", label: "GC pause/10k ops (ms)", better: "lower", digits: 1, zeroOk: true },
  { id: "gcsPer10kOps", label: "GCs/10k ops", better: "lower", digits: 1, zeroOk: true },
];

/** Full run: 1 s warm-up, 2.5 s measured. Quick run: 0.1 s and 0.4 s. */
export function transportWorkloads(quick: boolean): TransportWorkload[] {
  const kv = (kind: TransportParams["kind"], concurrency: number): TransportWorkload["params"] => ({
    kind,
    concurrency,
    keys: 10_000,
    valueBytes: 256,
    warmupMs: quick ? 100 : 1000,
    durationMs: quick ? 400 : 2500,
  });
  return [
    { id: "put-1", title: "put, 1 caller", params: kv("put", 1) },
    { id: "put-128", title: "put, 128 callers", params: kv("put", 128) },
    {
      id: "range-serializable-128",
      title: "range serializable, 128 callers",
      params: kv("range-serializable", 128),
    },
  ];
}

/** Rounds per transport per workload. */
export function transportRounds(quick: boolean): number {
  return quick ? 1 : 3;
}
