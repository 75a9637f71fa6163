import type { Counter, Histogram } from "prom-client";
import type { GaugeSample, SharedGauge } from "./shared-gauge.js";

/**
 * What an etcd client reports beyond its RPCs: retries, endpoint health, watches, leases and
 * re-authentications. `createClientMetrics()` returns one as `observer`; the client calls it.
 *
 * Counts are absolute (the client's current number, not a change), so a missed call never
 * leaves a gauge off for good. Every method is cheap, synchronous and never throws; values
 * that could blow up the metrics' cardinality or are not numbers are dropped or replaced
 * (see each method). One observer serves one client: give each client its own
 * `createClientMetrics()`; they can share a registry, and the gauges then add up.
 */
export interface EtcdClientObserver {
  /**
   * An attempt of a unary call failed and the client tries again. `service` is the fully
   * qualified service (`etcdserverpb.KV`), `method` the RPC (`Range`), `reason` a short stable
   * code of why (an `EtcdErrorReason` such as `unavailable` or `no_leader`). Reasons that are not
   * lower_snake_case, or beyond the 100th distinct one, are counted as `other`.
   */
  onRetry(service: string, method: string, reason: string): void;
  /**
   * The configured endpoints (at creation, `setEndpoints`, `sync`). Endpoints that left the list
   * lose their series; new ones start healthy, as the client picks them like healthy ones.
   * Only the URL origin is kept (scheme, host, port: never credentials or paths); at most 100.
   */
  onEndpoints(endpoints: readonly string[]): void;
  /** An endpoint failed (ejected: false) or answered again after failing (true). */
  onEndpointHealth(endpoint: string, healthy: boolean): void;
  /** The number of Watch streams (gRPC calls) the client has open. */
  onWatchStreams(count: number): void;
  /** The number of active watches, over all watch streams. */
  onWatches(count: number): void;
  /** The number of leases the client keeps alive. */
  onKeptLeases(count: number): void;
  /** Seconds between sending a keepalive request and receiving its answer. */
  onKeepAliveRoundTrip(seconds: number): void;
  /** The client fetched a new auth token because etcd refused the one it had. */
  onReauthentication(): void;
  /** The client closed: its gauges stop counting; later calls are ignored. */
  onClose(): void;
}

/** The `etcd_client_*` metrics an observer feeds. */
export interface EtcdInstruments {
  retries: Counter<string>;
  endpointHealthy: SharedGauge;
  watchStreams: SharedGauge;
  watches: SharedGauge;
  keptLeases: SharedGauge;
  keepAliveRoundTripSeconds: Histogram<string>;
  reauthentications: Counter<string>;
}

const maxReasons = 100;
const maxEndpoints = 100;
const servicePattern = /^[A-Za-z_][A-Za-z0-9_.]{0,127}$/;
const methodPattern = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const reasonPattern = /^[a-z][a-z0-9_]{0,63}$/;

/**
 * The label of an endpoint: its URL origin (`http://10.0.0.1:2379`), or undefined when it is
 * not a URL. Bare `host:port` is read as http, as the client does.
 */
export function endpointLabel(endpoint: string): string | undefined {
  if (typeof endpoint !== "string") return undefined;
  try {
    const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `http://${endpoint}`);
    if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
    return url.origin;
  } catch {
    return undefined;
  }
}

const isCount = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;

/** An {@link EtcdClientObserver} that feeds the given metrics. */
export function createEtcdClientObserver(instruments: EtcdInstruments): EtcdClientObserver {
  let closed = false;
  let watchStreams = 0;
  let watches = 0;
  let keptLeases = 0;
  const endpoints = new Map<string, number>();
  const reasons = new Set<string>();
  const count = (value: () => number) => (): GaugeSample[] => [{ labels: {}, value: value() }];
  const detach = [
    instruments.watchStreams.attach(count(() => watchStreams)),
    instruments.watches.attach(count(() => watches)),
    instruments.keptLeases.attach(count(() => keptLeases)),
    instruments.endpointHealthy.attach(() =>
      [...endpoints].map(([endpoint, value]) => ({ labels: { endpoint }, value })),
    ),
  ];
  const reasonLabel = (reason: string): string => {
    if (typeof reason !== "string" || !reasonPattern.test(reason)) return "other";
    if (!reasons.has(reason)) {
      if (reasons.size >= maxReasons) return "other";
      reasons.add(reason);
    }
    return reason;
  };
  return {
    onRetry(service, method, reason) {
      if (closed) return;
      instruments.retries.inc({
        grpc_service: typeof service === "string" && servicePattern.test(service) ? service : "unknown",
        grpc_method: typeof method === "string" && methodPattern.test(method) ? method : "unknown",
        reason: reasonLabel(reason),
      });
    },
    onEndpoints(list) {
      if (closed || !Array.isArray(list)) return;
      const labels = new Set<string>();
      for (const endpoint of list) {
        const label = endpointLabel(endpoint);
        if (label !== undefined && labels.size < maxEndpoints) labels.add(label);
      }
      for (const label of endpoints.keys()) if (!labels.has(label)) endpoints.delete(label);
      for (const label of labels) if (!endpoints.has(label)) endpoints.set(label, 1);
    },
    onEndpointHealth(endpoint, healthy) {
      if (closed) return;
      const label = endpointLabel(endpoint);
      if (label === undefined || (!endpoints.has(label) && endpoints.size >= maxEndpoints)) return;
      endpoints.set(label, healthy === true ? 1 : 0);
    },
    onWatchStreams(n) {
      if (!closed && isCount(n)) watchStreams = n;
    },
    onWatches(n) {
      if (!closed && isCount(n)) watches = n;
    },
    onKeptLeases(n) {
      if (!closed && isCount(n)) keptLeases = n;
    },
    onKeepAliveRoundTrip(seconds) {
      if (closed || typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) return;
      instruments.keepAliveRoundTripSeconds.observe(seconds);
    },
    onReauthentication() {
      if (!closed) instruments.reauthentications.inc();
    },
    onClose() {
      if (closed) return;
      closed = true;
      for (const d of detach) d();
    },
  };
}
