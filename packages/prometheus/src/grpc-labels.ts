import { Code, ConnectError } from "@connectrpc/connect";

/** The status of a successful call; Connect's `Code` has no member for it. */
export const okCode = 0;

/** go-grpc-prometheus's `grpc_type` values. */
export type GrpcType = "unary" | "client_stream" | "server_stream" | "bidi_stream";

/** The labels every `grpc_client_*` metric carries. */
export interface GrpcLabels {
  grpc_type: GrpcType;
  grpc_service: string;
  grpc_method: string;
}

/** The parts of a Connect request the labels come from. */
export interface CallDescriptor {
  service: { typeName: string };
  method: { name: string; methodKind: string };
}

/**
 * The `grpc_code` label of each status, indexed by its number: the spelling of Go's
 * `codes.Code.String()`, which dashboards built on go-grpc-prometheus match on.
 */
export const grpcCodeNames: readonly string[] = [
  "OK",
  "Canceled",
  "Unknown",
  "InvalidArgument",
  "DeadlineExceeded",
  "NotFound",
  "AlreadyExists",
  "PermissionDenied",
  "ResourceExhausted",
  "FailedPrecondition",
  "Aborted",
  "OutOfRange",
  "Unimplemented",
  "Internal",
  "Unavailable",
  "DataLoss",
  "Unauthenticated",
];

/** The `grpc_type` of a protobuf-es method kind. */
export function grpcType(methodKind: string): GrpcType {
  switch (methodKind) {
    case "unary":
      return "unary";
    case "client_streaming":
      return "client_stream";
    case "server_streaming":
      return "server_stream";
    default:
      return "bidi_stream";
  }
}

/**
 * `grpc_type`, `grpc_service` (the fully qualified service, e.g. `etcdserverpb.KV`) and
 * `grpc_method` (e.g. `Range`) of a call. They come from the service schema only, never from
 * the request's content, so their number is bounded by the schema.
 */
export function grpcLabels(call: CallDescriptor): GrpcLabels {
  return {
    grpc_type: grpcType(call.method.methodKind),
    grpc_service: call.service.typeName === "" ? "unknown" : call.service.typeName,
    grpc_method: call.method.name === "" ? "unknown" : call.method.name,
  };
}

/** The `grpc_code` label of a status: `OK` for 0, as Go prints unknown numbers otherwise. */
export function grpcCodeName(code: number): string {
  return grpcCodeNames[code] ?? `Code(${code})`;
}

/**
 * The status of a failed call. A caller that aborts with a reason of its own gets an Unknown
 * ConnectError from Connect; gRPC reports any cancellation by the caller as Canceled.
 */
export function grpcCodeOf(error: unknown, signal?: AbortSignal): Code {
  let code = ConnectError.from(error).code;
  if (!(error instanceof ConnectError)) {
    // Errors that carry a Connect code without being ConnectErrors (EtcdError, for one).
    const own = (error as { code?: unknown } | null)?.code;
    if (typeof own === "number" && Number.isInteger(own) && own > 0 && own < grpcCodeNames.length) {
      code = own as Code;
    }
  }
  if (code === Code.Unknown && signal?.aborted === true) return Code.Canceled;
  return code;
}
