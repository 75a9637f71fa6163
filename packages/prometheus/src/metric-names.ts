/**
 * The name of every metric {@link createClientMetrics} can register. The `grpc_client_*` names,
 * labels and values are those of go-grpc-prometheus's client metrics, so existing dashboards and
 * alerts work unchanged; the `etcd_client_*` ones are specific to etcd.
 *
 * Histograms are exposed as `<name>_bucket`, `<name>_sum` and `<name>_count`.
 */
export const clientMetricNames = {
  /** Counter `{grpc_type, grpc_service, grpc_method}`: calls started. */
  started: "grpc_client_started_total",
  /** Counter `{grpc_type, grpc_service, grpc_method, grpc_code}`: calls finished, with their status. */
  handled: "grpc_client_handled_total",
  /** Counter `{grpc_type, grpc_service, grpc_method}`: response messages received. */
  msgReceived: "grpc_client_msg_received_total",
  /** Counter `{grpc_type, grpc_service, grpc_method}`: request messages sent. */
  msgSent: "grpc_client_msg_sent_total",
  /** Histogram `{grpc_type, grpc_service, grpc_method}` (opt-in): seconds from start to handled. */
  handlingSeconds: "grpc_client_handling_seconds",
  /** Histogram `{grpc_type, grpc_service, grpc_method}` (opt-in): seconds a stream read waited. */
  msgRecvHandlingSeconds: "grpc_client_msg_recv_handling_seconds",
  /** Histogram `{grpc_type, grpc_service, grpc_method}` (opt-in): seconds a stream write took. */
  msgSendHandlingSeconds: "grpc_client_msg_send_handling_seconds",
  /** Counter `{grpc_service, grpc_method, reason}`: attempts the client repeated, by error reason. */
  retries: "etcd_client_retries_total",
  /** Gauge `{endpoint}`: 1 while a configured endpoint works, 0 after it failed. */
  endpointHealthy: "etcd_client_endpoint_healthy",
  /** Gauge: open Watch streams (gRPC calls). */
  watchStreams: "etcd_client_watch_streams",
  /** Gauge: active watches (one stream carries many). */
  watches: "etcd_client_watches",
  /** Gauge: leases being kept alive. */
  keptLeases: "etcd_client_kept_leases",
  /** Histogram: seconds from a keepalive request to its answer. */
  keepAliveRoundTripSeconds: "etcd_client_lease_keepalive_round_trip_seconds",
  /** Counter: new auth tokens fetched because etcd refused the previous one. */
  reauthentications: "etcd_client_reauthentications_total",
} as const;

/** One of {@link clientMetricNames}. */
export type ClientMetricName = (typeof clientMetricNames)[keyof typeof clientMetricNames];

/** The metrics of {@link clientMetricNames} that are histograms. */
export const histogramMetricNames: readonly ClientMetricName[] = [
  clientMetricNames.handlingSeconds,
  clientMetricNames.msgRecvHandlingSeconds,
  clientMetricNames.msgSendHandlingSeconds,
  clientMetricNames.keepAliveRoundTripSeconds,
];
