import { create } from "@bufbuild/protobuf";
import type { Client as ConnectClient } from "@connectrpc/connect";
import {
  type Cluster as ClusterService,
  MemberAddRequestSchema,
  type MemberAddResponse,
  MemberListRequestSchema,
  type MemberListResponse,
  MemberPromoteRequestSchema,
  type MemberPromoteResponse,
  MemberRemoveRequestSchema,
  type MemberRemoveResponse,
  MemberUpdateRequestSchema,
  type MemberUpdateResponse,
} from "@etcd-connect/api/etcdserverpb";
import { type CallOptions, callEtcd } from "../call-options.js";
import { EtcdError, invalidArgument, toEtcdError } from "../errors.js";
import type { Int64Like } from "../int64.js";

/**
 * etcd's membership API (`client.cluster`), as Go's `clientv3.Cluster`. Member ids are
 * uint64 `bigint`s, as `memberList()` returns them.
 *
 * Membership changes are writes: a failure without an answer from etcd leaves them
 * `indeterminate` (they are never retried); read `memberList()` before trying again. etcd
 * refuses them with `unhealthy_cluster` until the member that got the request has been
 * connected to every voting member for 5 s (its strict reconfiguration check).
 *
 * @example
 * const { members } = await client.cluster.memberList();
 * for (const m of members) console.log(m.ID.toString(16), m.name, m.isLearner);
 *
 * const added = await client.cluster.memberAdd(["http://10.0.0.4:2380"], { learner: true });
 * // ...start etcd on 10.0.0.4 with --initial-cluster-state=existing, wait until it caught up...
 * await client.cluster.memberPromote(added.member?.ID ?? 0n);
 */
export interface Cluster {
  /**
   * Lists the members. Unstarted members have an empty `name` and no `clientURLs`.
   *
   * `linearizable` (default: true, as Go's client) asks for a list confirmed by a quorum
   * rather than the contacted member's view; etcd 3.5+ honours it, etcd 3.4 ignores the field
   * and always answers from the contacted member.
   */
  memberList(options?: { linearizable?: boolean } & CallOptions): Promise<MemberListResponse>;
  /**
   * Adds a member with these peer URLs (`http(s)://host:port`, checked before sending).
   * `learner` (default: false; etcd 3.4+) adds a non-voting learner that can be promoted
   * once it has caught up; etcd allows one learner at a time.
   */
  memberAdd(
    peerUrls: readonly string[],
    options?: { learner?: boolean } & CallOptions,
  ): Promise<MemberAddResponse>;
  /** Removes a member; `member_not_found` when there is none with this id. */
  memberRemove(id: Int64Like, options?: CallOptions): Promise<MemberRemoveResponse>;
  /**
   * Replaces a member's peer URLs (`http(s)://host:port`, checked before sending). etcd 3.4
   * (and 3.5/3.6 before the fix of etcd issue 21694) then lists a learner as a voter while
   * raft still treats it as a learner: update learners only after promoting them.
   */
  memberUpdate(
    id: Int64Like,
    peerUrls: readonly string[],
    options?: CallOptions,
  ): Promise<MemberUpdateResponse>;
  /**
   * Promotes a learner to a voting member (etcd 3.4+). Fails with `learner_not_ready` until
   * the learner's log has caught up with the leader's, and `member_not_learner` for voters.
   */
  memberPromote(id: Int64Like, options?: CallOptions): Promise<MemberPromoteResponse>;
}

/** The Cluster facade over a generated Connect client. */
export function createCluster(rpc: ConnectClient<typeof ClusterService>): Cluster {
  return {
    memberList: (options) =>
      callEtcd(options, (call) =>
        rpc.memberList(
          create(MemberListRequestSchema, { linearizable: options?.linearizable ?? true }),
          call,
        ),
      ),
    memberAdd: (peerUrls, options) =>
      callEtcd(options, (call) =>
        rpc.memberAdd(
          create(MemberAddRequestSchema, {
            peerURLs: checkPeerUrls(peerUrls),
            isLearner: options?.learner ?? false,
          }),
          call,
        ),
      ),
    memberRemove: (id, options) =>
      callEtcd(options, (call) =>
        rpc.memberRemove(create(MemberRemoveRequestSchema, { ID: toMemberId("id", id) }), call),
      ),
    memberUpdate: (id, peerUrls, options) =>
      callEtcd(options, (call) =>
        rpc.memberUpdate(
          create(MemberUpdateRequestSchema, { ID: toMemberId("id", id), peerURLs: checkPeerUrls(peerUrls) }),
          call,
        ),
      ),
    memberPromote: (id, options) =>
      callEtcd(options, (call) =>
        rpc.memberPromote(create(MemberPromoteRequestSchema, { ID: toMemberId("id", id) }), call),
      ),
  };
}

// What etcd accepts as a peer URL (Go's types.NewURLs): http or https, a host, an explicit
// port, nothing after it. Checked on the raw text: WHATWG URL parsing would drop a default
// port and invent a "/" path, and etcd compares the strings as given.
const peerUrlPattern = /^https?:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]+):(\d{1,5})$/;

/**
 * @internal Checks peer URLs the way etcd will, so a typo fails here with a message rather
 * than as etcd's `member_bad_urls` (or, in old versions, a panic in its peer transport).
 */
export function checkPeerUrls(peerUrls: readonly string[]): string[] {
  if (!Array.isArray(peerUrls) || peerUrls.length === 0) {
    throw invalidArgument("peerUrls must be a non-empty array of http(s)://host:port URLs");
  }
  for (const url of peerUrls) {
    const port = typeof url === "string" ? peerUrlPattern.exec(url)?.[2] : undefined;
    if (port === undefined || Number(port) < 1 || Number(port) > 65_535) {
      throw invalidArgument(
        `peer URL ${JSON.stringify(url)} is invalid: expected http(s)://host:port with no path`,
      );
    }
  }
  return [...peerUrls];
}

const maxUint64 = 0xffff_ffff_ffff_ffffn;

/**
 * @internal Checks a member id: a uint64 above 0, as a bigint or a safe integer number.
 * Ids are random 64-bit values, so most do not fit a number: pass the bigint from etcd.
 */
export function toMemberId(name: string, value: Int64Like): bigint {
  if (typeof value === "bigint") {
    if (value < 1n || value > maxUint64) throw invalidArgument(`${name} must be a member id (1 to 2^64-1)`);
    return value;
  }
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw invalidArgument(`${name} must be a member id: a bigint, or a safe integer number, above 0`);
  }
  return BigInt(value);
}

/**
 * @internal Rewords an `unimplemented` answer for a call that older etcd versions lack, so
 * the error names the version needed; other errors come back as EtcdErrors unchanged.
 */
export function explainUnimplemented(error: unknown, call: string, since: string): EtcdError {
  const etcdError = toEtcdError(error);
  if (etcdError.reason !== "unimplemented") return etcdError;
  return new EtcdError(
    `${call} needs etcd ${since} or newer; this member does not implement it (${etcdError.message})`,
    etcdError.code,
    "unimplemented",
    { ...(etcdError.endpoint === undefined ? {} : { endpoint: etcdError.endpoint }), cause: error },
  );
}
