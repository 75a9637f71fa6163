import { createHash, randomBytes } from "node:crypto";
import { type FileHandle, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { create } from "@bufbuild/protobuf";
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
  SnapshotRequestSchema,
  type SnapshotResponse,
  StatusRequestSchema,
  type StatusResponse,
} from "@etcd-connect/api/etcdserverpb";
import type { CallOptions } from "./call-options.js";
import type { RpcClients } from "./client.js";
import { explainUnimplemented, facadeCall, pickCallOptions, toMemberId } from "./cluster.js";
import { EtcdError, invalidArgument, toEtcdError } from "./errors.js";
import { type Int64Like, toInt64 } from "./int64.js";

/** What the Maintenance facade needs from the client. */
export interface MaintenanceDeps {
  /** Clients over the balanced transport. */
  rpc: RpcClients;
  /** Clients bound to one member (one of the client's endpoints). */
  rpcAt(endpoint: string): RpcClients;
  /** The client's endpoint URLs. */
  endpoints(): string[];
}

/** An alarm to clear: as `alarmList()` returns them, or by name. */
export interface AlarmTarget {
  /** The member that raised it; 0 (the default) with no `alarm` means every active alarm. */
  memberID?: Int64Like;
  /** The kind: `AlarmType.NOSPACE`, `AlarmType.CORRUPT`, or `"nospace"`, `"corrupt"`. */
  alarm?: AlarmType | "nospace" | "corrupt";
}

/** Options of {@link Maintenance.snapshot}. */
export interface SnapshotOptions extends CallOptions {
  /** Take the snapshot from this member (one of the client's endpoints). Default: any member. */
  endpoint?: string;
}

/** Progress of {@link Maintenance.snapshotToFile}, reported after each chunk is written. */
export interface SnapshotProgress {
  /** Bytes written so far, the trailing checksum included. */
  receivedBytes: number;
  /** Bytes of the database etcd says are still to come (0 on the checksum chunk). */
  remainingBytes: number;
}

/** Options of {@link Maintenance.snapshotToFile}. */
export interface SnapshotToFileOptions extends SnapshotOptions {
  /** Called after each chunk is written; an exception thrown here fails the snapshot. */
  onProgress?: (progress: SnapshotProgress) => void;
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
   * step failed. Resolves with the file's size in bytes.
   */
  snapshotToFile(path: string, options?: SnapshotToFileOptions): Promise<number>;
}

const alarmTypes = { nospace: AlarmType.NOSPACE, corrupt: AlarmType.CORRUPT } as const;
const downgradeActions = {
  validate: DowngradeRequest_DowngradeAction.VALIDATE,
  enable: DowngradeRequest_DowngradeAction.ENABLE,
  cancel: DowngradeRequest_DowngradeAction.CANCEL,
} as const;
const moveLeaderTries = 3;

/** The Maintenance facade. */
export function createMaintenance(deps: MaintenanceDeps): Maintenance {
  const { rpc } = deps;
  const at = (endpoint: string) => {
    if (typeof endpoint !== "string" || endpoint.length === 0) {
      throw invalidArgument("endpoint must be one of the client's endpoints");
    }
    return deps.rpcAt(endpoint).maintenance;
  };

  async function leaderEndpoint(call: CallOptions): Promise<string> {
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

  async function disarm(target: AlarmTarget | undefined, call: CallOptions): Promise<AlarmResponse> {
    const memberID = target?.memberID === undefined ? 0n : toInt64Unsigned(target.memberID);
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
      facadeCall(options, (call) => at(endpoint).status(create(StatusRequestSchema), call)),
    defragment: (endpoint, options) =>
      facadeCall(options, (call) => at(endpoint).defragment(create(DefragmentRequestSchema), call)),
    hash: (endpoint, options) =>
      facadeCall(options, (call) => at(endpoint).hash(create(HashRequestSchema), call)),
    hashKV: (endpoint, revision, options) =>
      facadeCall(options, (call) =>
        at(endpoint).hashKV(
          create(HashKVRequestSchema, {
            revision: revision === undefined ? 0n : toInt64("revision", revision),
          }),
          call,
        ),
      ),
    // An AlarmRequest with its defaults is GET, every member, every kind.
    alarmList: (options) =>
      facadeCall(options, (call) => rpc.maintenance.alarm(create(AlarmRequestSchema), call)),
    alarmDisarm: (target, options) => facadeCall(options, (call) => disarm(target, call)),
    moveLeader: (targetId, options) =>
      facadeCall(options, async (call) => {
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
      facadeCall(options, async (call) => {
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

function toInt64Unsigned(value: Int64Like): bigint {
  // memberID 0 is meaningful here (every member), so it cannot go through toMemberId.
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

/**
 * The snapshot messages of one stream. Connect only closes a server stream when its signal
 * aborts, not when the consumer stops iterating, so the stream gets its own controller and
 * `return()` (a `break` in for-await) aborts it.
 */
async function* snapshotStream(
  deps: MaintenanceDeps,
  options: SnapshotOptions | undefined,
): AsyncGenerator<SnapshotResponse, void, undefined> {
  const controller = new AbortController();
  const call = pickCallOptions(options);
  call.signal =
    call.signal === undefined ? controller.signal : AbortSignal.any([call.signal, controller.signal]);
  try {
    const clients = options?.endpoint === undefined ? deps.rpc : deps.rpcAt(options.endpoint);
    // Iterated by hand: a for-await would call the stream's return() first, before the abort.
    const stream = clients.maintenance.snapshot(create(SnapshotRequestSchema), call)[Symbol.asyncIterator]();
    for (;;) {
      const next = await stream.next();
      if (next.done) return;
      yield next.value;
    }
  } catch (error) {
    throw toEtcdError(error);
  } finally {
    controller.abort();
  }
}

async function* mapChunks(
  stream: AsyncGenerator<SnapshotResponse, void, undefined>,
): AsyncGenerator<Uint8Array> {
  for await (const message of stream) yield message.blob;
}

/** Bytes of the sha256 trailer that etcd appends to a snapshot. */
export const snapshotChecksumBytes = 32;

/**
 * Checks etcd's snapshot checksum while the bytes stream past: etcd appends the sha256 of the
 * database as the last 32 bytes, so everything but the (so far) last 32 bytes is hashed and
 * those are held back until the end. Keeps 32 bytes, never the snapshot.
 *
 * @example
 * const verifier = new SnapshotVerifier();
 * for await (const chunk of client.maintenance.snapshot()) verifier.update(chunk);
 * verifier.verify(); // throws an EtcdError (reason "corrupt") on a mismatch
 */
export class SnapshotVerifier {
  readonly #hash = createHash("sha256");
  #tail = new Uint8Array(0);
  #bytes = 0;

  /** Bytes seen so far, the trailer included. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Adds the next chunk of the snapshot. */
  update(chunk: Uint8Array): void {
    this.#bytes += chunk.length;
    if (chunk.length >= snapshotChecksumBytes) {
      this.#hash.update(this.#tail);
      this.#hash.update(chunk.subarray(0, chunk.length - snapshotChecksumBytes));
      this.#tail = chunk.slice(chunk.length - snapshotChecksumBytes);
      return;
    }
    const joined = new Uint8Array(this.#tail.length + chunk.length);
    joined.set(this.#tail);
    joined.set(chunk, this.#tail.length);
    const cut = Math.max(0, joined.length - snapshotChecksumBytes);
    this.#hash.update(joined.subarray(0, cut));
    this.#tail = joined.slice(cut);
  }

  /**
   * Checks the trailer against the hash of everything before it.
   * @throws {EtcdError} reason `corrupt` (code DataLoss) when they differ or the snapshot is
   *   too short to hold a trailer.
   */
  verify(): void {
    if (this.#bytes <= snapshotChecksumBytes) {
      throw new EtcdError(
        `snapshot is ${this.#bytes} bytes, too short for a database and its sha256 trailer`,
        Code.DataLoss,
        "corrupt",
      );
    }
    const actual = this.#hash.digest();
    if (!actual.equals(this.#tail)) {
      throw new EtcdError(
        `snapshot checksum mismatch: the sha256 of its first ${this.#bytes - snapshotChecksumBytes} bytes is ${actual.toString("hex")}, its trailer says ${Buffer.from(this.#tail).toString("hex")}`,
        Code.DataLoss,
        "corrupt",
      );
    }
  }
}

async function snapshotToFile(
  deps: MaintenanceDeps,
  path: string,
  options: SnapshotToFileOptions | undefined,
): Promise<number> {
  if (typeof path !== "string" || path.length === 0) throw invalidArgument("path must be a non-empty string");
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.part`);
  let file: FileHandle | undefined;
  let stream: AsyncGenerator<SnapshotResponse, void, undefined> | undefined;
  let step = `creating ${temp}`;
  try {
    file = await open(temp, "wx", 0o600);
    const verifier = new SnapshotVerifier();
    stream = snapshotStream(deps, options);
    for (;;) {
      step = "receiving the snapshot";
      const next = await stream.next();
      if (next.done) break;
      const { blob, remainingBytes } = next.value;
      step = `writing ${temp}`;
      await file.write(blob);
      verifier.update(blob);
      step = "reporting progress (onProgress threw)";
      options?.onProgress?.({ receivedBytes: verifier.bytes, remainingBytes: Number(remainingBytes) });
    }
    step = "verifying the checksum";
    verifier.verify();
    step = `fsyncing ${temp}`;
    await file.sync();
    await file.close();
    file = undefined;
    step = `renaming ${temp} to ${path}`;
    await rename(temp, path);
    await syncDirectory(dirname(path));
    return verifier.bytes;
  } catch (error) {
    // Closes the stream when the failure was ours (a write, onProgress) rather than the stream's.
    await stream?.return().catch(() => {});
    await file?.close().catch(() => {});
    await rm(temp, { force: true }).catch(() => {});
    const cause = toEtcdError(error);
    throw new EtcdError(`snapshotToFile failed ${step}: ${cause.message}`, cause.code, cause.reason, {
      ...(cause.etcdMessage === undefined ? {} : { etcdMessage: cause.etcdMessage }),
      ...(cause.endpoint === undefined ? {} : { endpoint: cause.endpoint }),
      cause: error,
    });
  }
}

// Makes the rename itself durable. Best effort: not every platform can open a directory.
async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, "r");
    await handle.sync();
  } catch {
    // The file is complete and renamed; only a crash right now could undo the rename.
  } finally {
    await handle?.close().catch(() => {});
  }
}
