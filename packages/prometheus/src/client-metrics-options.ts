import type { OpenMetricsContentType, Registry } from "prom-client";
import { register } from "prom-client";

/** A prom-client registry, in either exposition format. */
export type MetricsRegistry = Registry | Registry<OpenMetricsContentType>;

/** Settings of an opt-in histogram. */
export interface HistogramOptions {
  /** Upper bounds of the buckets, strictly increasing. Default: {@link defaultBuckets}. */
  buckets?: readonly number[];
}

/** Options of {@link createClientMetrics}. Every one is optional. */
export interface ClientMetricsOptions {
  /**
   * The registry the metrics are registered in. A metric of the same name already there (from
   * another `createClientMetrics`) is reused, so several clients can share one registry.
   * Default: prom-client's global `register`.
   */
  registry?: MetricsRegistry;
  /**
   * `grpc_client_handling_seconds`: time from the start of a call until it is handled. `true`
   * uses {@link defaultBuckets}. Histograms are costly to store and query, hence opt-in as in
   * go-grpc-prometheus. Default: false.
   */
  handlingTimeHistogram?: boolean | HistogramOptions;
  /**
   * `grpc_client_msg_recv_handling_seconds` and `grpc_client_msg_send_handling_seconds`: how long
   * each read from and write to a stream took. `true` uses {@link defaultBuckets}. Default: false.
   */
  streamHistograms?: boolean | HistogramOptions;
  /**
   * Buckets of `etcd_client_lease_keepalive_round_trip_seconds`, which is always registered.
   * Default: {@link defaultBuckets}.
   */
  keepAliveRoundTripBuckets?: readonly number[];
}

/** {@link ClientMetricsOptions} with defaults filled in; a histogram is `undefined` when off. */
export interface ResolvedClientMetricsOptions {
  registry: MetricsRegistry;
  handlingTimeBuckets: number[] | undefined;
  streamBuckets: number[] | undefined;
  keepAliveRoundTripBuckets: number[];
}

/** Prometheus's default buckets (client_golang `prometheus.DefBuckets`), as go-grpc-prometheus uses. */
export const defaultBuckets: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Fills in the defaults of {@link ClientMetricsOptions} and rejects bad values.
 * @throws TypeError or RangeError naming the option.
 */
export function validateClientMetricsOptions(
  options: ClientMetricsOptions = {},
): ResolvedClientMetricsOptions {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("createClientMetrics: options must be an object");
  }
  const registry = options.registry ?? register;
  if (typeof registry.getSingleMetric !== "function" || typeof registry.registerMetric !== "function") {
    throw new TypeError("createClientMetrics: registry must be a prom-client Registry");
  }
  return {
    registry,
    handlingTimeBuckets: histogramBuckets("handlingTimeHistogram", options.handlingTimeHistogram),
    streamBuckets: histogramBuckets("streamHistograms", options.streamHistograms),
    keepAliveRoundTripBuckets: checkBuckets(
      "keepAliveRoundTripBuckets",
      options.keepAliveRoundTripBuckets ?? defaultBuckets,
    ),
  };
}

function histogramBuckets(
  option: string,
  value: boolean | HistogramOptions | undefined,
): number[] | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return [...defaultBuckets];
  if (typeof value !== "object" || value === null) {
    throw new TypeError(`createClientMetrics: ${option} must be a boolean or { buckets }`);
  }
  return checkBuckets(`${option}.buckets`, value.buckets ?? defaultBuckets);
}

function checkBuckets(option: string, buckets: readonly number[]): number[] {
  if (!Array.isArray(buckets) || buckets.length === 0) {
    throw new RangeError(`createClientMetrics: ${option} must be a non-empty array of numbers`);
  }
  for (let i = 0; i < buckets.length; i++) {
    const bound = buckets[i];
    if (typeof bound !== "number" || !Number.isFinite(bound)) {
      throw new RangeError(`createClientMetrics: ${option}[${i}] must be a finite number (+Inf is implied)`);
    }
    if (i > 0 && bound <= (buckets[i - 1] as number)) {
      throw new RangeError(`createClientMetrics: ${option} must be strictly increasing`);
    }
  }
  return [...buckets];
}
