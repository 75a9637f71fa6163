import { Code, ConnectError } from "@connectrpc/connect";
import { MessageSizeError, NotGrpcServerError, TypedConnectError } from "@etcd-connect/transport";

/**
 * Stable, machine-readable reasons for an {@link EtcdError}.
 *
 * Server reasons map one to one to the messages of etcd's `rpctypes` catalogue;
 * client reasons describe failures found before or around a call.
 */
export type EtcdErrorReason =
  // KV and txn
  | "empty_key"
  | "key_not_found"
  | "value_provided"
  | "lease_provided"
  | "ttl_zero"
  | "too_many_ops"
  | "duplicate_key"
  | "compacted"
  | "future_revision"
  | "no_space"
  // lease
  | "lease_not_found"
  | "lease_exists"
  | "lease_ttl_too_large"
  /** Client side: no keepalive was acknowledged within the lease's TTL; it may have expired. */
  | "lease_expired"
  // membership
  | "member_exists"
  | "peer_url_exists"
  | "member_not_enough_started"
  | "member_bad_urls"
  | "member_not_found"
  | "member_not_learner"
  | "learner_not_ready"
  | "too_many_learners"
  // limits
  | "request_too_large"
  | "too_many_requests"
  // auth
  | "root_user_not_exist"
  | "root_role_not_exist"
  | "user_already_exists"
  | "user_empty"
  | "user_not_found"
  | "role_already_exists"
  | "role_not_found"
  | "role_empty"
  | "auth_failed"
  | "permission_denied"
  | "role_not_granted"
  | "permission_not_granted"
  | "auth_not_enabled"
  | "invalid_auth_token"
  | "invalid_auth_mgmt"
  | "auth_old_revision"
  // cluster health
  | "no_leader"
  | "not_leader"
  | "leader_changed"
  | "not_capable"
  | "stopped"
  | "timeout"
  | "timeout_due_to_leader_fail"
  | "timeout_due_to_connection_lost"
  | "timeout_wait_applied_index"
  | "unhealthy_cluster"
  | "corrupt"
  | "not_supported_for_learner"
  | "bad_leader_transferee"
  // downgrade (etcd 3.5+)
  | "cluster_version_unavailable"
  | "wrong_downgrade_version_format"
  | "invalid_downgrade_target_version"
  | "downgrade_in_progress"
  | "no_inflight_downgrade"
  // the election service (v3electionpb)
  | "election_not_leader"
  | "election_no_leader"
  // answered by the server without an etcd message
  | "unimplemented"
  // client side
  | "unavailable"
  | "deadline_exceeded"
  | "canceled"
  | "message_too_large"
  | "no_endpoints"
  | "invalid_argument"
  | "not_etcd"
  | "closed"
  | "unknown";

/**
 * etcd's exact error messages (its `rpctypes` catalogue) and the reason each maps to.
 * Exported for the unit test that holds the table complete.
 *
 * @internal Not part of the public API.
 */
export const etcdMessageReasons: ReadonlyMap<string, EtcdErrorReason> = new Map<string, EtcdErrorReason>([
  ["etcdserver: key is not provided", "empty_key"],
  ["etcdserver: key not found", "key_not_found"],
  ["etcdserver: value is provided", "value_provided"],
  ["etcdserver: lease is provided", "lease_provided"],
  ["etcdserver: ttl is 0", "ttl_zero"],
  ["etcdserver: too many operations in txn request", "too_many_ops"],
  ["etcdserver: duplicate key given in txn request", "duplicate_key"],
  ["etcdserver: mvcc: required revision has been compacted", "compacted"],
  ["etcdserver: mvcc: required revision is a future revision", "future_revision"],
  ["etcdserver: mvcc: database space exceeded", "no_space"],
  ["etcdserver: requested lease not found", "lease_not_found"],
  ["etcdserver: lease already exists", "lease_exists"],
  ["etcdserver: too large lease TTL", "lease_ttl_too_large"],
  ["etcdserver: member ID already exist", "member_exists"],
  ["etcdserver: Peer URLs already exists", "peer_url_exists"],
  ["etcdserver: re-configuration failed due to not enough started members", "member_not_enough_started"],
  ["etcdserver: given member URLs are invalid", "member_bad_urls"],
  ["etcdserver: member not found", "member_not_found"],
  ["etcdserver: can only promote a learner member", "member_not_learner"],
  ["etcdserver: can only promote a learner member which is in sync with leader", "learner_not_ready"],
  ["etcdserver: too many learner members in cluster", "too_many_learners"],
  ["etcdserver: request is too large", "request_too_large"],
  ["etcdserver: too many requests", "too_many_requests"],
  ["etcdserver: root user does not exist", "root_user_not_exist"],
  ["etcdserver: root user does not have root role", "root_role_not_exist"],
  ["etcdserver: user name already exists", "user_already_exists"],
  ["etcdserver: user name is empty", "user_empty"],
  ["etcdserver: user name not found", "user_not_found"],
  ["etcdserver: role name already exists", "role_already_exists"],
  ["etcdserver: role name not found", "role_not_found"],
  ["etcdserver: role name is empty", "role_empty"],
  ["etcdserver: authentication failed, invalid user ID or password", "auth_failed"],
  // etcd 3.4 sends this one without the "etcdserver:" prefix (code Unknown).
  ["auth: authentication failed, password was given for no password user", "auth_failed"],
  ["etcdserver: permission denied", "permission_denied"],
  ["etcdserver: role is not granted to the user", "role_not_granted"],
  ["etcdserver: permission is not granted to the role", "permission_not_granted"],
  ["etcdserver: authentication is not enabled", "auth_not_enabled"],
  ["etcdserver: invalid auth token", "invalid_auth_token"],
  ["etcdserver: invalid auth management", "invalid_auth_mgmt"],
  ["etcdserver: revision of auth store is old", "auth_old_revision"],
  ["etcdserver: no leader", "no_leader"],
  ["etcdserver: not leader", "not_leader"],
  ["etcdserver: leader changed", "leader_changed"],
  ["etcdserver: not capable", "not_capable"],
  ["etcdserver: server stopped", "stopped"],
  ["etcdserver: request timed out", "timeout"],
  ["etcdserver: request timed out, possibly due to previous leader failure", "timeout_due_to_leader_fail"],
  ["etcdserver: request timed out, possibly due to connection lost", "timeout_due_to_connection_lost"],
  [
    "etcdserver: request timed out, waiting for the applied index took too long",
    "timeout_wait_applied_index",
  ],
  ["etcdserver: unhealthy cluster", "unhealthy_cluster"],
  ["etcdserver: corrupt cluster", "corrupt"],
  ["etcdserver: rpc not supported for learner", "not_supported_for_learner"],
  ["etcdserver: bad leader transferee", "bad_leader_transferee"],
  ["etcdserver: cluster version not found during downgrade", "cluster_version_unavailable"],
  ["etcdserver: wrong downgrade target version format", "wrong_downgrade_version_format"],
  ["etcdserver: invalid downgrade target version", "invalid_downgrade_target_version"],
  ["etcdserver: cluster has a downgrade job in progress", "downgrade_in_progress"],
  ["etcdserver: no inflight downgrade job", "no_inflight_downgrade"],
  ["election: not leader", "election_not_leader"],
  ["election: no leader", "election_no_leader"],
]);

const codeReasons: Partial<Record<Code, EtcdErrorReason>> = {
  [Code.Canceled]: "canceled",
  [Code.DeadlineExceeded]: "deadline_exceeded",
  [Code.Unavailable]: "unavailable",
  [Code.Unimplemented]: "unimplemented",
  [Code.InvalidArgument]: "invalid_argument",
  [Code.PermissionDenied]: "permission_denied",
  [Code.Unauthenticated]: "invalid_auth_token",
};

/** Message of calls made after `client.close()`. */
export const clientClosedMessage = "etcd-connect: client is closed";

// What to do, for reasons whose etcd message alone leaves users guessing.
const reasonHints: Partial<Record<EtcdErrorReason, string>> = {
  user_empty:
    "the cluster has authentication enabled: pass username and password, or a token, to createClient",
  auth_failed: "check the username and password given to createClient",
  invalid_auth_token:
    "the token expired or is unknown to this member; with username/password the client fetches a new one",
  no_space: "the backend quota is full: compact, defragment, then disarm the NOSPACE alarm",
};

const brand = Symbol.for("@etcd-connect/client/EtcdError");

/** Where and how a failed call happened; all optional. */
export interface EtcdErrorDetails {
  /** The etcd message as the server sent it, when the server sent one. */
  etcdMessage?: string;
  /** The endpoint the failing attempt went to. */
  endpoint?: string;
  /** True when a write was sent and no answer came: it may have been applied. */
  indeterminate?: boolean;
  /** For `compacted` (watch): the revision etcd compacted to. */
  compactRevision?: bigint;
  cause?: unknown;
}

/**
 * The one error type of etcd-connect. Every failure of a call is an `EtcdError`.
 *
 * - `code`: the Connect {@link Code} (gRPC status).
 * - `reason`: a stable string for programs to branch on.
 * - `indeterminate`: a write may have been applied; it was not retried.
 *
 * `EtcdError.is(err)` and `instanceof` work across duplicate copies of this package.
 */
export class EtcdError extends Error {
  override name = "EtcdError";
  readonly code: Code;
  readonly reason: EtcdErrorReason;
  readonly etcdMessage: string | undefined;
  readonly endpoint: string | undefined;
  readonly indeterminate: boolean;
  readonly compactRevision: bigint | undefined;

  constructor(message: string, code: Code, reason: EtcdErrorReason, details: EtcdErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.reason = reason;
    this.etcdMessage = details.etcdMessage;
    this.endpoint = details.endpoint;
    this.indeterminate = details.indeterminate ?? false;
    this.compactRevision = details.compactRevision;
  }

  /** Brand check that holds across duplicate package copies, unlike a plain prototype check. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && brand in value;
  }

  /** True when `value` is an EtcdError, optionally with the given reason. */
  static is(value: unknown, reason?: EtcdErrorReason): value is EtcdError {
    return value instanceof EtcdError && (reason === undefined || value.reason === reason);
  }
}
Object.defineProperty(EtcdError.prototype, brand, { value: true });

/** The reason for an etcd message, or undefined when the message is not etcd's. */
export function reasonForEtcdMessage(message: string): EtcdErrorReason | undefined {
  return etcdMessageReasons.get(message);
}

/** Builds a client-side error: bad input and the like, found before anything is sent. */
export function invalidArgument(message: string): EtcdError {
  return new EtcdError(message, Code.InvalidArgument, "invalid_argument");
}

/** What the client knows of a failed call. */
export interface CallOutcome {
  endpoint: string | undefined;
  indeterminate: boolean;
}

/**
 * A failed call's error together with its {@link CallOutcome}: a ConnectError with the same
 * message, code and metadata, so interceptors and metrics see the call as it failed; facades
 * turn it into an EtcdError that carries the outcome.
 */
export class CallFailure extends TypedConnectError {
  readonly outcome: CallOutcome;
  /** The error of the last attempt, as the transport reported it. */
  readonly original: ConnectError;

  constructor(error: ConnectError, outcome: CallOutcome) {
    super(error.rawMessage, error.code, error.metadata, undefined, error.cause);
    this.details = error.details;
    this.outcome = outcome;
    this.original = error;
  }
}

/** The call's error with its outcome attached; see {@link CallFailure}. */
export function setCallOutcome(error: ConnectError, outcome: CallOutcome): CallFailure {
  return new CallFailure(error instanceof CallFailure ? error.original : error, outcome);
}

/** The client was closed; later calls fail with this (reason `closed`). */
export class ClientClosedError extends TypedConnectError {
  constructor() {
    super(clientClosedMessage, Code.Canceled);
  }
}

/**
 * Converts anything a call can throw into an {@link EtcdError}.
 * An existing EtcdError is returned as it is.
 */
export function toEtcdError(reason: unknown, details: EtcdErrorDetails = {}): EtcdError {
  if (reason instanceof EtcdError) return reason;
  // An EtcdError wrapped by ConnectError.from on its way through an interceptor.
  if (reason instanceof ConnectError && reason.cause instanceof EtcdError) return reason.cause;
  let original = reason;
  if (reason instanceof CallFailure) {
    const { endpoint, indeterminate } = reason.outcome;
    details = { ...(endpoint === undefined ? {} : { endpoint }), indeterminate, ...details };
    original = reason.original;
  }
  const ce = ConnectError.from(original);
  // Watch cancel reasons carry Go's status text: "rpc error: code = X desc = <etcd message>".
  const etcdText = /^rpc error: code = \w+ desc = (.*)$/s.exec(ce.rawMessage)?.[1] ?? ce.rawMessage;
  const reasonFromMessage = etcdMessageReasons.get(etcdText);
  let message = etcdText;
  let etcdReason: EtcdErrorReason;
  if (reasonFromMessage !== undefined) {
    etcdReason = reasonFromMessage;
  } else if (ce instanceof MessageSizeError) {
    // The transport's size limits, named as our options are.
    etcdReason = "message_too_large";
    const option = ce.direction === "read" ? "maxCallRecvMsgSize" : "maxCallSendMsgSize";
    message = `message size ${ce.size} is larger than configured ${option} ${ce.limit}`;
  } else if (ce.code === Code.ResourceExhausted && /configured (write|read)MaxBytes/.test(message)) {
    // Connect's own transports (createRouterTransport, connect-node) report their size limits
    // only as text: a library's words, matched as etcd's are; ours come typed, above.
    etcdReason = "message_too_large";
    message = message
      .replace("writeMaxBytes", "maxCallSendMsgSize")
      .replace("readMaxBytes", "maxCallRecvMsgSize");
  } else if (ce instanceof ClientClosedError) {
    etcdReason = "closed";
  } else if (ce instanceof NotGrpcServerError || /unknown service etcdserverpb/.test(message)) {
    // Ours for a peer that is not etcd; the other is a gRPC server's text for a service it lacks.
    etcdReason = "not_etcd";
  } else {
    etcdReason = codeReasons[ce.code] ?? "unknown";
  }
  const hint = reasonHints[etcdReason] === undefined ? "" : ` (${reasonHints[etcdReason]})`;
  const where = details.endpoint === undefined ? "" : ` (endpoint ${details.endpoint})`;
  const maybe = details.indeterminate ? "; the write may have been applied" : "";
  return new EtcdError(`${message}${hint}${where}${maybe}`, ce.code, etcdReason, {
    ...details,
    ...(reasonFromMessage === undefined ? {} : { etcdMessage: etcdText }),
    cause: details.cause ?? reason,
  });
}
