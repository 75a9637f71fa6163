import { create } from "@bufbuild/protobuf";
import type { CallOptions as ConnectCallOptions } from "@connectrpc/connect";
import { Code } from "@connectrpc/connect";
import {
  AlarmRequest_AlarmAction,
  AlarmRequestSchema,
  type AlarmResponse,
  AlarmResponseSchema,
  AlarmType,
  DefragmentRequestSchema,
  type DefragmentResponse,
  DowngradeRequest_DowngradeAction,
  DowngradeRequestSchema,
  type DowngradeResponse,
  HashKVRequestSchema,
  type HashKVResponse,
  HashRequestSchema,
  type HashResponse,
  MoveLeaderRequestSchema,
  type MoveLeaderResponse,
  StatusRequestSchema,
  type StatusResponse,
} from "@etcd-connect/api/etcdserverpb";
import type { CallOptions } from "../call-options.js";
import { callEtcd } from "../call-options.js";
import { EtcdError, invalidArgument, toEtcdError } from "../errors.js";
import { type Int64Like, toInt64 } from "../int64.js";
import type { RpcRouting } from "../rpc-clients.js";
import { explainUnimplemented, toMemberId } from "./cluster.js";
import {
  mapChunks,
  type SnapshotOptions,
  type SnapshotResult,
  type SnapshotToFileOptions,
  snapshotStream,
  snapshotToFile,
} from "./snapshot.js";

/** What the Maintenance facade needs from the client. */

/** An alarm to clear: as `alarmList()` returns them, or by name. */
export interface AlarmTarget {
  /** The member that raised it; 0 (the default) with no `alarm` means every active alarm. */
  memberID?: Int64Like;
  /** The kind: `AlarmType.NOSPACE`, `AlarmType.CORRUPT`, or `"nospace"`, `"corrupt"`. */
  alarm?: AlarmType | "nospace" | "corrupt";
}

/**
 * etcd's maintenance API (`client.maintenance`), as Go's `clientv3.Maintenance`.
 *
 * Per-member calls (`status`, `defragment`, `hash`, `hashKV`) take the member's endpoint, one
 * of the client's `endpoints`; the others go to any member, except `moveLeader`, which finds
 * the leader itself.
 *
 * @example
 * for (const endpoint of client.endpoints) {
 *   const s = await client.maintenance.status(endpoint);
 *   console.log(endpoint, s.version, s.dbSize, s.leader === s.header?.memberId ? "leader" : "follower");
 * }
 * await client.maintenance.snapshotToFile("/backups/etcd.db");
 */
export interface Maintenance {
  /** The member's version, database size, raft indexes, leader and errors. */
  status(endpoint: string, options?: CallOptions): Promise<StatusResponse>;
  /**
   * Rewrites the member's database to give back the space freed by compaction. It blocks the
   * member meanwhile: defragment one member at a time.
   */
  defragment(endpoint: string, options?: CallOptions): Promise<DefragmentResponse>;
  /** Hash of the member's whole database (for debugging; compare `hashKV` across members). */
  hash(endpoint: string, options?: CallOptions): Promise<HashResponse>;
  /**
   * Hash of the member's keys and values up to `revision` (default 0: the latest). Members at
   * the same revision and compaction revision must agree.
   */
  hashKV(endpoint: string, revision?: Int64Like, options?: CallOptions): Promise<HashKVResponse>;
  /** Every active alarm of the cluster (NOSPACE, CORRUPT), one entry per member and kind. */
  alarmList(options?: CallOptions): Promise<AlarmResponse>;
  /**
   * Clears an alarm, e.g. NOSPACE after compacting and defragmenting. Without a target (or
   * with memberID 0 and no alarm) clears every active alarm, as Go's client does.
   */
  alarmDisarm(target?: AlarmTarget, options?: CallOptions): Promise<AlarmResponse>;
  /**
   * Hands leadership to the member `targetId`. etcd only accepts this from the leader, so the
   * client asks each endpoint's status, sends the request to the leader's endpoint and, if
   * the leader changed meanwhile (`not_leader`), looks again (3 tries). Fails with `not_leader`
   * when the leader is not one of the client's endpoints.
   */
  moveLeader(targetId: Int64Like, options?: CallOptions): Promise<MoveLeaderResponse>;
  /**
   * Validates, enables or cancels a cluster downgrade to `version` ("3.5"; not needed for
   * "cancel"). etcd 3.5+; older members fail with reason `unimplemented`.
   */
  downgrade(
    action: "validate" | "enable" | "cancel",
    version?: string,
    options?: CallOptions,
  ): Promise<DowngradeResponse>;
  /**
   * Streams a snapshot of a member's database. The chunks include the 32-byte sha256 that
   * etcd appends (`etcdctl snapshot restore` checks it). Stopping early (`break`, `return`)
   * closes the stream; stream failures are {@link EtcdError}s.
   */
  snapshot(options?: SnapshotOptions): AsyncIterable<Uint8Array>;
  /**
   * Saves a snapshot to `path`: streams it into a temporary file beside `path`, checks etcd's
   * sha256 trailer, fsyncs and renames it into place, so `path` only ever holds a whole,
   * verified snapshot. On failure the temporary file is removed and the error says which
   * step failed. Resolves with the file's size and the etcd version of the member that sent it
   * (asked with a Status call to that member first, since etcd 3.4's stream does not say).
   */
  snapshotToFile(path: string, options?: SnapshotToFileOptions): Promise<SnapshotResult>;
}

const alarmTypes = { nospace: AlarmType.NOSPACE, corrupt: AlarmType.CORRUPT } as const;
const downgradeActions = {
  validate: DowngradeRequest_DowngradeAction.VALIDATE,
  enable: DowngradeRequest_DowngradeAction.ENABLE,
  cancel: DowngradeRequest_DowngradeAction.CANCEL,
} as const;
const moveLeaderTries = 3;

/** The Maintenance facade. */
export function createMaintenance(deps: RpcRouting): Maintenance {
  const { rpc } = deps;
  const at = (endpoint: string) => {
    if (typeof endpoint !== "string" || endpoint.length === 0) {
      throw invalidArgument("endpoint must be one of the client's endpoints");
    }
    return deps.rpcAt(endpoint).maintenance;
  };

  async function leaderEndpoint(call: ConnectCallOptions): Promise<string> {
    const endpoints = deps.endpoints();
    const answers = await Promise.allSettled(
      endpoints.map((endpoint) => at(endpoint).status(create(StatusRequestSchema), call)),
    );
    let knownLeader = 0n;
    let firstError: unknown;
    for (const [i, answer] of answers.entries()) {
      if (answer.status === "rejected") {
        firstError ??= answer.reason;
        continue;
      }
      const { leader, header } = answer.value;
      if (leader !== 0n && header?.memberId === leader) return endpoints[i] as string;
      if (leader !== 0n) knownLeader = leader;
    }
    if (knownLeader !== 0n) {
      throw new EtcdError(
        `moveLeader must be sent to the leader (member ${knownLeader.toString(16)}), which is not one of the client's endpoints (${endpoints.join(", ")})`,
        Code.FailedPrecondition,
        "not_leader",
      );
    }
    if (firstError !== undefined) throw firstError;
    throw new EtcdError(`no member knows a leader (${endpoints.join(", ")})`, Code.Unavailable, "no_leader");
  }

  async function disarm(target: AlarmTarget | undefined, call: ConnectCallOptions): Promise<AlarmResponse> {
    const memberID = target?.memberID === undefined ? 0n : alarmMemberId(target.memberID);
    const alarm = alarmTypeOf(target?.alarm);
    if (memberID !== 0n || alarm !== AlarmType.NONE) {
      return rpc.maintenance.alarm(
        create(AlarmRequestSchema, { action: AlarmRequest_AlarmAction.DEACTIVATE, memberID, alarm }),
        call,
      );
    }
    // etcd clears nothing for "member 0, no alarm": clear each active alarm in turn.
    const active = await rpc.maintenance.alarm(create(AlarmRequestSchema), call);
    const cleared = create(AlarmResponseSchema, active.header === undefined ? {} : { header: active.header });
    for (const one of active.alarms) {
      const res = await rpc.maintenance.alarm(
        create(AlarmRequestSchema, {
          action: AlarmRequest_AlarmAction.DEACTIVATE,
          memberID: one.memberID,
          alarm: one.alarm,
        }),
        call,
      );
      cleared.alarms.push(...res.alarms);
    }
    return cleared;
  }

  const maintenance: Maintenance = {
    status: (endpoint, options) =>
      callEtcd(options, (call) => at(endpoint).status(create(StatusRequestSchema), call)),
    defragment: (endpoint, options) =>
      callEtcd(options, (call) => at(endpoint).defragment(create(DefragmentRequestSchema), call)),
    hash: (endpoint, options) =>
      callEtcd(options, (call) => at(endpoint).hash(create(HashRequestSchema), call)),
    hashKV: (endpoint, revision, options) =>
      callEtcd(options, (call) =>
        at(endpoint).hashKV(
          create(HashKVRequestSchema, {
            revision: revision === undefined ? 0n : toInt64("revision", revision),
          }),
          call,
        ),
      ),
    // An AlarmRequest with its defaults is GET, every member, every kind.
    alarmList: (options) =>
      callEtcd(options, (call) => rpc.maintenance.alarm(create(AlarmRequestSchema), call)),
    alarmDisarm: (target, options) => callEtcd(options, (call) => disarm(target, call)),
    moveLeader: (targetId, options) =>
      callEtcd(options, async (call) => {
        const targetID = toMemberId("targetId", targetId);
        for (let attempt = 1; ; attempt++) {
          const leader = await leaderEndpoint(call);
          try {
            return await at(leader).moveLeader(create(MoveLeaderRequestSchema, { targetID }), call);
          } catch (error) {
            // The leader changed between the status round and the request.
            if (attempt >= moveLeaderTries || !EtcdError.is(toEtcdError(error), "not_leader")) throw error;
          }
        }
      }),
    downgrade: (action, version, options) =>
      callEtcd(options, async (call) => {
        const request = downgradeRequest(action, version);
        try {
          return await rpc.maintenance.downgrade(request, call);
        } catch (error) {
          throw explainUnimplemented(error, "downgrade", "3.5");
        }
      }),
    snapshot: (options) => mapChunks(snapshotStream(deps, options)),
    snapshotToFile: (path, options) => snapshotToFile(deps, path, options),
  };
  return maintenance;
}

function alarmMemberId(value: Int64Like): bigint {
  // 0 means every member here, so it cannot go through toMemberId.
  return value === 0 || value === 0n ? 0n : toMemberId("memberID", value);
}

function alarmTypeOf(alarm: AlarmTarget["alarm"]): AlarmType {
  if (alarm === undefined) return AlarmType.NONE;
  if (alarm === "nospace" || alarm === "corrupt") return alarmTypes[alarm];
  if (alarm === AlarmType.NONE || alarm === AlarmType.NOSPACE || alarm === AlarmType.CORRUPT) return alarm;
  throw invalidArgument(`alarm must be AlarmType.NOSPACE, AlarmType.CORRUPT, "nospace" or "corrupt"`);
}

function downgradeRequest(action: "validate" | "enable" | "cancel", version: string | undefined) {
  const kind = Object.hasOwn(downgradeActions, action) ? downgradeActions[action] : undefined;
  if (kind === undefined) {
    throw invalidArgument(
      `downgrade action must be "validate", "enable" or "cancel", got ${JSON.stringify(action)}`,
    );
  }
  if (action === "cancel") return create(DowngradeRequestSchema, { action: kind, version: version ?? "" });
  if (typeof version !== "string" || !/^\d+\.\d+(\.\d+)?$/.test(version)) {
    throw invalidArgument(
      `downgrade ${action} needs a target version such as "3.5", got ${JSON.stringify(version)}`,
    );
  }
  return create(DowngradeRequestSchema, { action: kind, version });
}
