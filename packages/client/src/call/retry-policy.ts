import { Code } from "@connectrpc/connect";
import type { RequestOp, TxnRequest } from "@etcd-connect/api/etcdserverpb";
import type { RetryOptions } from "../client-options.js";

export type { RetryOptions };

import type { EtcdError } from "../errors.js";

// Calls that may run twice with the same result: Go clientv3's repeatable set (retry.go), plus
// Authenticate and AuthStatus, which change nothing on the server, and the election service's Leader.
// A retried LeaseGrant can at worst leave an unused lease behind that expires by its TTL. A grant
// with a chosen id and a revoke are retried too, but their retry may meet what an earlier attempt
// did: see `refusalOfEarlierAttempt`.
const repeatable = new Set([
  "etcdserverpb.KV/Range",
  "etcdserverpb.Lease/LeaseGrant",
  "etcdserverpb.Lease/LeaseRevoke",
  "etcdserverpb.Lease/LeaseTimeToLive",
  "etcdserverpb.Lease/LeaseLeases",
  "etcdserverpb.Cluster/MemberList",
  "etcdserverpb.Maintenance/Alarm",
  "etcdserverpb.Maintenance/Status",
  "etcdserverpb.Maintenance/Hash",
  "etcdserverpb.Maintenance/HashKV",
  "etcdserverpb.Maintenance/MoveLeader",
  "etcdserverpb.Auth/Authenticate",
  "etcdserverpb.Auth/AuthStatus",
  "etcdserverpb.Auth/UserGet",
  "etcdserverpb.Auth/UserList",
  "etcdserverpb.Auth/RoleGet",
  "etcdserverpb.Auth/RoleList",
  // A read of the election service.
  "v3electionpb.Election/Leader",
]);

/**
 * True when the call `service/method` may run twice without harm. A Txn is repeatable when
 * every op in it (nested txns included) is a read: pass its request as `message`.
 */
export function isRepeatable(service: string, method: string, message?: unknown): boolean {
  if (service === "etcdserverpb.KV" && method === "Txn")
    return isReadOnlyTxn(message as TxnRequest | undefined);
  return repeatable.has(`${service}/${method}`);
}

// True when every op of `txn`, in either branch and in nested txns, is a read.
function isReadOnlyTxn(txn: TxnRequest | undefined): boolean {
  return txn !== undefined && allReads(txn.success) && allReads(txn.failure);
}

function allReads(ops: readonly RequestOp[]): boolean {
  for (const { request } of ops) {
    if (request.case === "requestRange") continue;
    if (request.case === "requestTxn" && isReadOnlyTxn(request.value)) continue;
    return false;
  }
  return true;
}

// etcd answers these before it proposes anything, so nothing was applied. "too many requests"
// (etcd's apply index lagging its commit index, v3_server.go) is refused before Propose too: an
// overloaded etcd is busy, not failing, and every call, writes included, may wait and try again.
// A learner refuses every call but a serializable read before any handler runs (etcd's unary
// interceptor): another member may take the write.
const refusedBeforeApply = new Set([
  "no_leader",
  "not_capable",
  "stopped",
  "too_many_requests",
  "not_supported_for_learner",
]);

// Refused before proposing too, so not applied, but for a state another attempt soon after will
// meet again: a member change while the cluster could lose quorum by it (strict reconfiguration
// check). Told to the caller, not retried.
const refusedAsUnsafe = new Set(["unhealthy_cluster"]);

/**
 * Whether a failed attempt may be tried again, per Go clientv3's rules: repeatable calls on
 * Unavailable; writes only when the request provably was not applied.
 */
// Codes a client or connection failure produces: the request may have been lost or applied.
// Node reports a reset connection as Aborted, HTTP/2 stream faults as Internal, and streams of a
// session torn down under them as Canceled (the caller's own abort is checked before this).
const connectionLost = new Set<Code>([Code.Unavailable, Code.Aborted, Code.Internal, Code.Canceled]);

// Codes only a server's own answer carries: the call was refused, not applied.
const definitiveAnswers = new Set<Code>([
  Code.InvalidArgument,
  Code.NotFound,
  Code.AlreadyExists,
  Code.PermissionDenied,
  Code.FailedPrecondition,
  Code.OutOfRange,
  Code.Unimplemented,
  Code.Unauthenticated,
]);

export function isRetryable(error: EtcdError, repeatableCall: boolean, neverSentAttempt: boolean): boolean {
  // An answer from etcd proves the request arrived, whatever the transport believes.
  if (neverSentAttempt && error.etcdMessage === undefined) return true;
  if (error.reason === "too_many_requests") return true;
  if (repeatableCall) {
    return (
      error.code === Code.Unavailable || (error.etcdMessage === undefined && connectionLost.has(error.code))
    );
  }
  return refusedBeforeApply.has(error.reason);
}

// Refusals a repeatable call meets when an earlier attempt of it was applied: a lease granted
// with a chosen id exists, a revoked lease is gone. After such an attempt they prove nothing.
const refusalsOfARepeat = new Map([
  ["etcdserverpb.Lease/LeaseGrant", "lease_exists"],
  ["etcdserverpb.Lease/LeaseRevoke", "lease_not_found"],
]);

/**
 * Whether `error`, a retry's answer, may be the doing of an earlier attempt of the same call that
 * was sent and may have been applied: a grant with a chosen id refused as `lease_exists`, a revoke
 * as `lease_not_found`. Its outcome is then unknown (indeterminate), not a refusal.
 */
export function refusalOfEarlierAttempt(service: string, method: string, error: EtcdError): boolean {
  return refusalsOfARepeat.get(`${service}/${method}`) === error.reason;
}

/** Whether a failed attempt asks the client to slow down: its retries back off exponentially. */
export function isOverload(error: EtcdError): boolean {
  return error.reason === "too_many_requests";
}

/** Whether a failed write leaves its outcome unknown: it may or may not have been applied. */
export function isIndeterminate(
  error: EtcdError,
  repeatableCall: boolean,
  neverSentAttempt: boolean,
): boolean {
  if (repeatableCall || (neverSentAttempt && error.etcdMessage === undefined)) return false;
  if (error.etcdMessage !== undefined) {
    // etcd spoke: only its timeouts and leader changes leave the proposal in flight.
    return (
      error.code === Code.Unavailable &&
      !refusedBeforeApply.has(error.reason) &&
      !refusedAsUnsafe.has(error.reason)
    );
  }
  // Sent, and no answer from etcd: unknown unless the code is one only a server's refusal carries.
  // A response over maxCallRecvMsgSize (ResourceExhausted) means the write was applied.
  return !definitiveAnswers.has(error.code);
}
