import type { LeaseKeepAliveResponse, ResponseHeader } from "@etcd-connect/api/etcdserverpb";

/**
 * A keepalive answer rebuilt from its parts, as a literal (see `keepAliveRequest`). A kept lease
 * holds its last answer as parts rather than as the decoded message (see `KeptLease`); a keeper
 * that reads it late gets this, with a header of its own. keep-alive-answer.test.ts holds it
 * equal to the decoded answer.
 */
export function keepAliveAnswer(
  ID: bigint,
  header: ResponseHeader | undefined,
  TTL: bigint,
): LeaseKeepAliveResponse {
  // An answer without a header decodes without the key, not with it set to undefined.
  if (header === undefined) return { $typeName: "etcdserverpb.LeaseKeepAliveResponse", ID, TTL };
  return { $typeName: "etcdserverpb.LeaseKeepAliveResponse", header: { ...header }, ID, TTL };
}

/**
 * Whether two answers' headers say the same: answers renewed together nearly always do, and then
 * the kept leases share one header object instead of holding one each.
 */
export function sameHeader(a: ResponseHeader, b: ResponseHeader): boolean {
  return (
    a.revision === b.revision &&
    a.raftTerm === b.raftTerm &&
    a.memberId === b.memberId &&
    a.clusterId === b.clusterId &&
    a.$unknown === undefined &&
    b.$unknown === undefined
  );
}
