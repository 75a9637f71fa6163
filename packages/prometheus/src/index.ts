/**
 * RPC metrics on prom-client, compatible with go-grpc-prometheus, client observer metrics, etcd metrics and a dashboard.
 *
 * @document ../README.md
 * @packageDocumentation
 * @module @etcd-connect/prometheus
 */

export type { ClientMetrics } from "./client-metrics.js";
export { createClientMetrics } from "./client-metrics.js";
export type {
  ClientMetricsOptions,
  HistogramOptions,
  MetricsRegistry,
  ResolvedClientMetricsOptions,
} from "./client-metrics-options.js";
export { defaultBuckets, validateClientMetricsOptions } from "./client-metrics-options.js";
export type { EtcdClientObserver } from "./etcd-client-observer.js";
export type { CallDescriptor, GrpcLabels, GrpcType } from "./grpc-labels.js";
export { grpcCodeName, grpcCodeNames, grpcLabels } from "./grpc-labels.js";
export type { ClientMetricName } from "./metric-names.js";
export { clientMetricNames, histogramMetricNames } from "./metric-names.js";
