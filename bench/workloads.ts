import type { BenchTls, Rival } from "./bench-client.js";

/** The fan-in writer: not a workload of its own, it feeds the watcher of the fan-in workloads. */
export const fanWriter = "fan-writer";
/** The prefix the fan-in writer writes to and the fan-in watcher watches. */
export const fanPrefix = "fan/";
/** The prefix of the catch-up backlog, apart from the fan-in keys. */
export const backlogPrefix = "backlog/";

/** A worker's figures, by metric id. */
export type Metrics = Record<string, number>;

/** Which way a metric improves. */
export type Better = "higher" | "lower";

export interface MetricSpec {
  id: string;
  label: string;
  better: Better;
  /** Decimal places in the tables. */
  digits: number;
}

/** A target: on the ratio of medians ours / `vs`, or on ours' median itself. */
export type Target =
  | { metric: string; on: "ratio"; vs: Rival; op: ">=" | "<="; value: number }
  | { metric: string; on: "ours"; op: ">=" | "<="; value: number; unit?: string };

export interface KvParams {
  kind: "put" | "get-linearizable" | "get-serializable" | "txn";
  /** Set by the orchestrator for a workload against the mutual-TLS member (see `Workload.mtls`). */
  tls?: BenchTls;
  /** Set by the orchestrator: etcd's process, whose CPU over the window the worker reads. */
  serverPid?: number;
  concurrency: number;
  keys: number;
  valueBytes: number;
  /** The warm-up lasts at least this long, and until `warmupCalls` calls have finished. */
  warmupMs: number;
  /**
   * Calls before the window opens. V8 compiles a call path to optimized code only after some
   * thousands of calls (Go's is compiled ahead of time): at one caller, the 2 s after a 500 ms
   * warm-up measured our p99 at 1.35–2.51 ms and CPU at 161–290 µs a put, and the next 2 s at
   * 0.93–1.38 ms and 110–197 µs. Every client warms up the same.
   */
  warmupCalls: number;
  durationMs: number;
}

export interface FanInParams {
  kind: "fan-in";
  writerConcurrency: number;
  /**
   * Keys per writer call. Above 1, a txn of that many puts: one revision, many events, enough that
   * the writer outpaces any one watcher. 1: a plain put, one event per revision.
   */
  writerBatch: number;
  keys: number;
  valueBytes: number;
  /**
   * The writer writes this long before the watcher starts counting, so both have compiled their
   * paths. Without it, the first half second of a round (2026-12-05, `watch-fan-in-1`): the writer
   * at 1,150-1,500 keys per 250 ms against 2,300-4,500 later, and 8-25% of the events it delivered
   * to our watcher later than 5 ms (60-90% to etcd3's) against at most 3% in any later 250 ms: a
   * third to three quarters of all our events above 5 ms, which is where p99 sat. Go's watcher,
   * compiled ahead of time, had no such start. Every watcher warms up the same.
   */
  warmupMs: number;
  durationMs: number;
}

/**
 * A watcher that starts behind: the orchestrator writes a backlog of `revisions` txns of `batch`
 * puts each, with nobody watching, then the watcher asks for every event from the backlog's first
 * revision. etcd 3.4 sends a watcher that is behind 1,000 revisions per response, one response
 * per pass of its sync loop (a pass every 100 ms, plus the pass's own time), so with 128 events a
 * revision it offers several times what a Node watcher reads, and the watcher's reading sets the
 * rate: what a client restarted after an outage, or a cache filling from an old revision, goes
 * through.
 */
export interface CatchUpParams {
  kind: "catch-up";
  revisions: number;
  /** Puts per txn: events per revision. */
  batch: number;
  keys: number;
  valueBytes: number;
  /** Set by the orchestrator: the backlog's first revision, where the watcher starts. */
  startRevision?: number;
  /** Set by the orchestrator: the events the backlog holds, all of which the watcher waits for. */
  events?: number;
}

export interface WatchersParams {
  kind: "watchers";
  count: number;
}

export interface LeasesParams {
  kind: "leases";
  /** Set by the orchestrator: etcd's process, whose CPU over the window the worker reads. */
  serverPid?: number;
  count: number;
  ttlSeconds: number;
  /**
   * How long the first half of the leases is kept (each renewed at least once) before the memory
   * baseline is read; the second half is granted after it.
   */
  baselineMs: number;
  /** The measured window: CPU per keepalive over it, then memory with every lease kept. */
  windowMs: number;
  /**
   * How long all the leases are kept before the measured window. The window then sees a client
   * that has been keeping leases a while: V8 compiles the keepalive path only after some
   * thousands of renewals (a 7 s window right after the grants measured ours at ~3x its steady
   * CPU per keepalive), while Go's code is compiled ahead of time. Every client waits the same.
   */
  warmMs: number;
  /**
   * Grants in flight at once; each lease is kept alive as soon as its grant returns. Unbounded,
   * 100,000 grants at once made etcd refuse them ("too many requests") and kept the first
   * leases waiting for the last grants longer than their TTL.
   */
  grantConcurrency: number;
}

export type WorkloadParams = KvParams | FanInParams | CatchUpParams | WatchersParams | LeasesParams;

export interface Workload {
  id: string;
  title: string;
  params: WorkloadParams;
  metrics: MetricSpec[];
  targets: Target[];
  /**
   * Part of the scale ramp: run only when named (BENCH_ONLY) or with BENCH_SCALE=1, not in the
   * default run (a round of 100,000 leases takes minutes per client).
   */
  scale?: true;
  /**
   * Runs against a second member that serves TLS and asks for a client certificate
   * (`--client-cert-auth`), as production etcd often does.
   */
  mtls?: true;
}

const opsPerSecond: MetricSpec = { id: "opsPerSec", label: "ops/s", better: "higher", digits: 0 };
const kvMetrics: MetricSpec[] = [
  opsPerSecond,
  { id: "p50Ms", label: "p50 latency (ms)", better: "lower", digits: 2 },
  { id: "p99Ms", label: "p99 latency (ms)", better: "lower", digits: 2 },
  { id: "cpuUsPerOp", label: "CPU/op (µs)", better: "lower", digits: 1 },
  // etcd's own CPU over the same window, per call: what a call of this client costs the server.
  { id: "etcdCpuUsPerOp", label: "etcd CPU/op (µs)", better: "lower", digits: 1 },
  { id: "peakRssMb", label: "peak RSS (MB)", better: "lower", digits: 1 },
];
const at128: Target[] = [
  { metric: "opsPerSec", on: "ratio", vs: "etcd3", op: ">=", value: 2 },
  { metric: "cpuUsPerOp", on: "ratio", vs: "etcd3", op: "<=", value: 0.45 },
  { metric: "p99Ms", on: "ratio", vs: "etcd3", op: "<=", value: 0.5 },
];
// Every KV workload, against etcd's own Go client.
const kvVsGo: Target[] = [
  { metric: "opsPerSec", on: "ratio", vs: "go", op: ">=", value: 1.1 },
  { metric: "cpuUsPerOp", on: "ratio", vs: "go", op: "<=", value: 0.8 },
  { metric: "p99Ms", on: "ratio", vs: "go", op: "<=", value: 1 },
];
// The fan-in figures are the watcher's; keys written/s is the writer's (ours, whoever watches).
const fanInMetrics: MetricSpec[] = [
  { id: "eventsPerSec", label: "events/s delivered", better: "higher", digits: 0 },
  { id: "writesPerSec", label: "keys written/s", better: "higher", digits: 0 },
  { id: "p50Ms", label: "p50 delivery latency (ms)", better: "lower", digits: 2 },
  { id: "p99Ms", label: "p99 delivery latency (ms)", better: "lower", digits: 2 },
  { id: "cpuUsPerEvent", label: "CPU/event (µs)", better: "lower", digits: 2 },
  { id: "peakRssMb", label: "peak RSS (MB)", better: "lower", digits: 1 },
];
const catchUpMetrics: MetricSpec[] = [
  { id: "eventsPerSec", label: "events/s delivered", better: "higher", digits: 0 },
  { id: "catchUpS", label: "time to the last event (s)", better: "lower", digits: 2 },
  { id: "cpuUsPerEvent", label: "CPU/event (µs)", better: "lower", digits: 2 },
  { id: "peakRssMb", label: "peak RSS (MB)", better: "lower", digits: 1 },
];
const watchersMetrics: MetricSpec[] = [
  { id: "createS", label: "creation time (s)", better: "lower", digits: 2 },
  { id: "rssKbPerWatcher", label: "RSS/watcher (KB)", better: "lower", digits: 2 },
  { id: "heapKbPerWatcher", label: "heap/watcher (KB)", better: "lower", digits: 2 },
  { id: "stacksKbPerWatcher", label: "goroutine stacks/watcher (KB)", better: "lower", digits: 2 },
  { id: "createCpuMs", label: "creation CPU (ms)", better: "lower", digits: 0 },
  { id: "createCpuUsPerWatcher", label: "creation CPU/watcher (µs)", better: "lower", digits: 1 },
  { id: "peakRssMb", label: "peak RSS (MB)", better: "lower", digits: 1 },
];
const leasesMetrics: MetricSpec[] = [
  { id: "createS", label: "grant + keepAlive (s)", better: "lower", digits: 2 },
  { id: "rssKbPerLease", label: "RSS/lease (KB)", better: "lower", digits: 2 },
  { id: "heapKbPerLease", label: "heap/lease (KB)", better: "lower", digits: 2 },
  // Go only: clientv3's goroutines per lease live on stacks, outside its heap figure.
  { id: "stacksKbPerLease", label: "goroutine stacks/lease (KB)", better: "lower", digits: 2 },
  { id: "cpuMsPer10kKeepAlives", label: "CPU/10k keepalives (ms)", better: "lower", digits: 1 },
  { id: "etcdCpuMsPer10kKeepAlives", label: "etcd CPU/10k keepalives (ms)", better: "lower", digits: 1 },
  { id: "keepAlivesPerSec", label: "keepalives/s answered", better: "higher", digits: 0 },
  { id: "peakRssMb", label: "peak RSS (MB)", better: "lower", digits: 1 },
];
// As many grants in flight as the put workload's largest caller count: etcd takes them at full
// speed without building the backlog it refuses.
const grantConcurrency = 128;
const leasesVsGo: Target[] = [
  { metric: "cpuMsPer10kKeepAlives", on: "ratio", vs: "go", op: "<=", value: 1 },
  { metric: "heapKbPerLease", on: "ratio", vs: "go", op: "<=", value: 1 },
];

/** Durations and sizes: the full run or the ~90 s smoke run. */
export function workloads(quick: boolean): Workload[] {
  const kv = (kind: KvParams["kind"], concurrency: number): KvParams => ({
    kind,
    concurrency,
    keys: 10_000,
    valueBytes: 256,
    warmupMs: quick ? 100 : 500,
    warmupCalls: quick ? 0 : 10_000,
    durationMs: quick ? 400 : 2000,
  });
  const fanIn = (writerBatch: number): FanInParams => ({
    kind: "fan-in",
    writerConcurrency: 16,
    writerBatch,
    keys: 10_000,
    valueBytes: 256,
    warmupMs: quick ? 200 : 1000,
    durationMs: quick ? 500 : 3000,
  });
  return [
    { id: "put-1", title: "put, 1 caller", params: kv("put", 1), metrics: kvMetrics, targets: kvVsGo },
    { id: "put-16", title: "put, 16 callers", params: kv("put", 16), metrics: kvMetrics, targets: kvVsGo },
    {
      id: "put-128",
      title: "put, 128 callers",
      params: kv("put", 128),
      metrics: kvMetrics,
      // The whole process, client and bench worker, at the call rate the client reaches.
      targets: [...at128, ...kvVsGo, { metric: "peakRssMb", on: "ours", op: "<=", value: 100, unit: "MB" }],
    },
    {
      id: "get-linearizable-128",
      title: "get linearizable, 128 callers",
      params: kv("get-linearizable", 128),
      metrics: kvMetrics,
      targets: [...at128, ...kvVsGo],
    },
    {
      id: "get-serializable-128",
      title: "get serializable, 128 callers",
      params: kv("get-serializable", 128),
      metrics: kvMetrics,
      targets: [...at128, ...kvVsGo],
    },
    {
      id: "txn-16",
      title: "txn compare-and-put, 16 callers",
      params: kv("txn", 16),
      metrics: kvMetrics,
      targets: [{ metric: "opsPerSec", on: "ratio", vs: "etcd3", op: ">=", value: 1.5 }, ...kvVsGo],
    },
    // Every KV workload again over mutual TLS, as production etcd runs: the same targets.
    ...(
      [
        ["put-1-mtls", "put, 1 caller, mutual TLS", "put", 1],
        ["put-16-mtls", "put, 16 callers, mutual TLS", "put", 16],
        ["put-128-mtls", "put, 128 callers, mutual TLS", "put", 128],
        ["get-linearizable-128-mtls", "get linearizable, 128 callers, mutual TLS", "get-linearizable", 128],
        ["get-serializable-128-mtls", "get serializable, 128 callers, mutual TLS", "get-serializable", 128],
        ["txn-16-mtls", "txn compare-and-put, 16 callers, mutual TLS", "txn", 16],
      ] as const
    ).map(
      ([id, title, kind, callers]): Workload => ({
        id,
        title,
        params: kv(kind, callers),
        metrics: kvMetrics,
        targets: callers === 128 ? [...at128, ...kvVsGo] : kvVsGo,
        mtls: true,
      }),
    ),
    {
      id: "watch-fan-in",
      title: "watch fan-in (one prefix watcher)",
      params: fanIn(128),
      metrics: fanInMetrics,
      // No target against etcd3 here: a watcher that keeps up delivers what the writer writes, so the
      // ratio measured the writer unless etcd3's watcher fell behind (bench README, fan-in notes);
      // watch-catch-up measures how fast each watcher reads.
      targets: [],
    },
    {
      id: "watch-fan-in-1",
      title: "watch fan-in, one event per revision",
      params: fanIn(1),
      metrics: fanInMetrics,
      targets: [{ metric: "p99Ms", on: "ratio", vs: "go", op: "<=", value: 1.5 }],
    },
    {
      id: "watch-catch-up",
      title: `watch catch-up (${quick ? "51,200" : "256,000"} events behind)`,
      params: {
        kind: "catch-up",
        revisions: quick ? 400 : 2000,
        batch: 128,
        keys: 10_000,
        valueBytes: 256,
      },
      metrics: catchUpMetrics,
      targets: [{ metric: "eventsPerSec", on: "ratio", vs: "etcd3", op: ">=", value: 1.4 }],
    },
    {
      id: "watchers-10k",
      title: `${quick ? "2,000" : "10,000"} watchers on distinct keys`,
      params: { kind: "watchers", count: quick ? 2000 : 10_000 },
      metrics: watchersMetrics,

      targets: [
        { metric: "rssKbPerWatcher", on: "ours", op: "<=", value: 8, unit: "KB" },
        { metric: "heapKbPerWatcher", on: "ratio", vs: "go", op: "<=", value: 1 },
      ],
    },
    {
      id: "leases-1k",
      title: `${quick ? "200" : "1,000"} leases kept alive, TTL 3 s`,
      // clientv3 sends the keepalives due from a loop every 500 ms, so at TTL 3 s it renews a lease
      // every 1.5 s: a shorter window can miss every renewal of half the leases. 12 s, not 4: a
      // 4 s window held some 60 ms of our CPU, and one client's rounds spread 2x.
      // 30 s before each memory reading and before the window: V8's memory reducer, armed when the
      // grants grow the heap, runs up to three major GCs about 8 s apart; with less they fell in
      // the window or between the two memory readings (bench README, full-mode windows).
      params: {
        kind: "leases",
        count: quick ? 200 : 1000,
        ttlSeconds: 3,
        baselineMs: quick ? 2000 : 30_000,
        windowMs: quick ? 2000 : 12_000,
        warmMs: quick ? 0 : 30_000,
        grantConcurrency,
      },
      metrics: leasesMetrics,
      targets: [{ metric: "rssKbPerLease", on: "ours", op: "<=", value: 5, unit: "KB" }, ...leasesVsGo],
    },
    {
      // A keepalive per lease every 3.3 s instead of every second: the cost of holding a lease
      // weighs more against keepalive traffic. The window holds six rounds of keepalives: 1,000
      // leases cost 4-7 ms of CPU a second here, ours and Go's alike, and over 7 s (two rounds)
      // one client's rounds spread 2x within a run (ours 132-262 ms per 10k in one, Go 81-114 in
      // another). At 300 renewals a second V8 compiles the keepalive path later than at TTL 3 s:
      // `--trace-opt` showed 14 functions compiled 10-25 s after the grants (1-11 ms each, some
      // 70 ms of CPU), which fell in the window when it started 15 s after them. 40 s lets every
      // client settle.
      id: "leases-ttl10",
      title: `${quick ? "200" : "1,000"} leases kept alive, TTL 10 s`,
      params: {
        kind: "leases",
        count: quick ? 200 : 1000,
        ttlSeconds: 10,
        // 30 s, as at TTL 3 s: V8's memory reducer (see leases-1k) ran between the two memory
        // readings after a 7 s baseline, and RSS per lease read -1.53 to 1.98 KB.
        baselineMs: quick ? 3500 : 30_000,
        windowMs: quick ? 3500 : 21_000,
        warmMs: quick ? 0 : 40_000,
        grantConcurrency,
      },
      metrics: leasesMetrics,
      targets: leasesVsGo,
    },
    // The scale ramp: watchers at 1k, 10k (above) and 100k; kept leases at 1k, 10k and 100k.
    // Per-item memory should stay flat as the count grows, and so should per-item CPU; a figure
    // that grows with the count is a cost that is not linear.
    ...[1000, 100_000].map(
      (count): Workload => ({
        id: `watchers-${count / 1000}k`,
        title: `${count.toLocaleString("en-US")} watchers on distinct keys (scale)`,
        params: { kind: "watchers", count },
        metrics: watchersMetrics,
        targets: [],
        scale: true,
      }),
    ),
    // TTL 60 s: 100,000 leases then need 5,000 keepalives a second. At TTL 10 s they need 30,000,
    // and etcd 3.4 on this 2-core machine answered at most ~8,000 a second on one stream; the
    // leases it could not renew in time expired there, and each renewal of an expired lease waits
    // for its revocation (1,000 a second), which stalled the stream for every client, Go's too.
    ...[1000, 10_000, 100_000].map(
      (count): Workload => ({
        id: `leases-${count / 1000}k-ttl60`,
        title: `${count.toLocaleString("en-US")} leases kept alive, TTL 60 s (scale)`,
        params: {
          kind: "leases",
          count,
          ttlSeconds: 60,
          baselineMs: 10_000,
          windowMs: 10_000,
          warmMs: 15_000,
          grantConcurrency,
        },
        metrics: leasesMetrics,
        targets: [],
        scale: true,
      }),
    ),
  ];
}

/** Rounds per client of a workload other than KV (see `kvRounds`). */
export function rounds(quick: boolean): number {
  return quick ? 1 : 3;
}

/**
 * Rounds per client of a KV workload. Their rounds are short (2 s), and one client's rounds spread
 * 20-60% within a run on this machine kind (2026-12-05 17:32 UTC, puts from one caller over TLS:
 * ours 2,611-4,385 a second, Go 2,639-3,291; 16:57: ours 2,417-3,806, Go 1,817-2,517), so the
 * median of three followed one round and a target of 1.1x Go's rate passed or failed with it.
 */
export function kvRounds(quick: boolean): number {
  return quick ? 1 : 5;
}

/** Whether `params` are a KV workload's (the ones run over mutual TLS too). */
export function isKvParams(params: WorkloadParams): params is KvParams {
  const { kind } = params;
  return kind === "put" || kind === "get-linearizable" || kind === "get-serializable" || kind === "txn";
}

/** Rounds per client of `workload`. */
export function roundsOf(workload: Pick<Workload, "params">, quick: boolean): number {
  return isKvParams(workload.params) ? kvRounds(quick) : rounds(quick);
}

/**
 * Unrecorded rounds of `workload` before its recorded ones: 1 for a KV workload in a full run, so
 * that no recorded round is the member's first after another workload. The clients take turns in a
 * fixed order, so that round was always ours; at txn with 16 callers, after reads only, its p99 read
 * above the median of ours' other rounds in every run compared ("How it runs" in the bench README).
 */
export function settleRoundsOf(workload: Pick<Workload, "params">, quick: boolean): number {
  return isKvParams(workload.params) && !quick ? 1 : 0;
}
