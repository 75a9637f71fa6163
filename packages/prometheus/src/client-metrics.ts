import type { Interceptor } from "@connectrpc/connect";
import { Counter, Histogram } from "prom-client";
import type { GrpcInstruments } from "./call-reporter.js";
import {
  type ClientMetricsOptions,
  type MetricsRegistry,
  validateClientMetricsOptions,
} from "./client-metrics-options.js";
import { createEtcdClientObserver, type EtcdClientObserver } from "./etcd-client-observer.js";
import { clientMetricNames as names } from "./metric-names.js";
import { createMetricsInterceptor } from "./metrics-interceptor.js";
import { registeredMetric } from "./registered-metric.js";
import { sharedGauge } from "./shared-gauge.js";

/** What {@link createClientMetrics} returns. */
export interface ClientMetrics {
  /**
   * The Connect interceptor feeding the `grpc_client_*` metrics. Pass it first in
   * `createClient({ interceptors })`: it then sees each call once, however often it is retried.
   */
  readonly interceptor: Interceptor;
  /** Feeds the `etcd_client_*` metrics; the client calls it (see {@link EtcdClientObserver}). */
  readonly observer: EtcdClientObserver;
  /** The registry the metrics live in (the option, or prom-client's global `register`). */
  readonly registry: MetricsRegistry;
}

const grpcLabelNames = ["grpc_type", "grpc_service", "grpc_method"] as const;

/**
 * Registers the client metrics (go-grpc-prometheus's `grpc_client_*` plus `etcd_client_*`) and
 * returns the interceptor and observer that feed them. Nothing is registered until this is
 * called; metrics already in the registry under the same names (from another call, e.g. for a
 * second client) are reused.
 *
 * @example
 * const metrics = createClientMetrics({ handlingTimeHistogram: true });
 * const client = createClient({ endpoints, interceptors: [metrics.interceptor] });
 * console.log(await metrics.registry.metrics());
 */
export function createClientMetrics(options: ClientMetricsOptions = {}): ClientMetrics {
  const resolved = validateClientMetricsOptions(options);
  const { registry } = resolved;
  const histogram = (name: string, help: string, buckets: number[] | undefined) =>
    buckets === undefined
      ? undefined
      : registeredMetric(registry, Histogram, { name, help, labelNames: grpcLabelNames, buckets });
  const grpc: GrpcInstruments = {
    started: registeredMetric(registry, Counter, {
      name: names.started,
      help: "RPCs started by the client.",
      labelNames: grpcLabelNames,
    }),
    handled: registeredMetric(registry, Counter, {
      name: names.handled,
      help: "RPCs finished by the client, successful or not, by status code.",
      labelNames: [...grpcLabelNames, "grpc_code"],
    }),
    msgReceived: registeredMetric(registry, Counter, {
      name: names.msgReceived,
      help: "RPC response messages received by the client.",
      labelNames: grpcLabelNames,
    }),
    msgSent: registeredMetric(registry, Counter, {
      name: names.msgSent,
      help: "RPC request messages sent by the client.",
      labelNames: grpcLabelNames,
    }),
    handlingSeconds: histogram(
      names.handlingSeconds,
      "Seconds from the start of an RPC until the client handled its end.",
      resolved.handlingTimeBuckets,
    ),
    msgRecvHandlingSeconds: histogram(
      names.msgRecvHandlingSeconds,
      "Seconds the client waited for each stream message it read.",
      resolved.streamBuckets,
    ),
    msgSendHandlingSeconds: histogram(
      names.msgSendHandlingSeconds,
      "Seconds each stream message took to be written.",
      resolved.streamBuckets,
    ),
  };
  const countGauge = (name: string, help: string) =>
    sharedGauge(registry, { name, help, labelNames: [], combine: "sum" });
  const observer = createEtcdClientObserver({
    retries: registeredMetric(registry, Counter, {
      name: names.retries,
      help: "Failed attempts of etcd calls that the client retried, by reason.",
      labelNames: ["grpc_service", "grpc_method", "reason"],
    }),
    endpointHealthy: sharedGauge(registry, {
      name: names.endpointHealthy,
      help: "1 while a configured etcd endpoint works, 0 after it failed until it answers again.",
      labelNames: ["endpoint"],
      combine: "min",
    }),
    watchStreams: countGauge(names.watchStreams, "Watch streams the client has open."),
    watches: countGauge(names.watches, "Watches the client has active."),
    keptLeases: countGauge(names.keptLeases, "Leases the client keeps alive."),
    keepAliveRoundTripSeconds: registeredMetric(registry, Histogram, {
      name: names.keepAliveRoundTripSeconds,
      help: "Seconds from a lease keepalive request to its answer.",
      labelNames: [],
      buckets: resolved.keepAliveRoundTripBuckets,
    }),
    reauthentications: registeredMetric(registry, Counter, {
      name: names.reauthentications,
      help: "Auth tokens fetched again because etcd refused the previous one.",
      labelNames: [],
    }),
  });
  return { interceptor: createMetricsInterceptor(grpc), observer, registry };
}
