import { createHash, randomBytes } from "node:crypto";
import { type FileHandle, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { Code, createContextValues } from "@connectrpc/connect";
import {
  SnapshotRequestSchema,
  type SnapshotResponse,
  StatusRequestSchema,
  type StatusResponse,
} from "@etcd-connect/api/etcdserverpb";
import { beginAttempt, currentAttempt } from "../call/attempt.js";
import { type CallOptions, rpcCallOptions } from "../call-options.js";
import { EtcdError, invalidArgument, toEtcdError } from "../errors.js";
import type { RpcRouting } from "../rpc-clients.js";

/** Options of {@link Maintenance.snapshot}; `timeoutMs` bounds the whole stream. */
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

/** What {@link Maintenance.snapshotToFile} saved, and which etcd sent it. */
export interface SnapshotResult {
  /** Size of the file in bytes, etcd's sha256 trailer included. */
  size: number;
  /**
   * The etcd version of the member that sent the snapshot ("3.4.23"): etcd 3.4's snapshot
   * stream carries none, so the client asks that member's Status just before streaming from it.
   * With a custom `transport` the two calls go where the transport sends them.
   */
  version: string;
  /**
   * The snapshot's storage version as the stream states it (the SnapshotResponse `version` of
   * newer etcd releases, which Go's `SnapshotWithVersion` reads); undefined from etcd 3.4.
   */
  storageVersion: string | undefined;
  /** The member that sent it (from the same Status answer). */
  memberId: bigint;
}

/**
 * The snapshot messages of one stream. Connect only closes a server stream when its signal
 * aborts, not when the consumer stops iterating, so the stream gets its own controller and
 * `return()` (a `break` in for-await) aborts it.
 */
export async function* snapshotStream(
  deps: RpcRouting,
  options: SnapshotOptions | undefined,
): AsyncGenerator<SnapshotResponse, void, undefined> {
  const controller = new AbortController();
  const call = rpcCallOptions(options);
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

/** Mapping of the raw stream to its bytes, for {@link Maintenance.snapshot}. */
export async function* mapChunks(
  stream: AsyncGenerator<SnapshotResponse, void, undefined>,
): AsyncGenerator<Uint8Array> {
  for await (const message of stream) yield message.blob;
}

/**
 * Bytes of the sha256 trailer that etcd appends to a snapshot.
 *
 * @internal Not part of the public API.
 */
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

/**
 * The Status of the member a snapshot will come from, and that member's endpoint: the one asked
 * for, else the one the balancer picked for the Status call (its attempt record says which), so
 * the snapshot can be pinned to it. Undefined endpoint: a custom transport, which records none.
 */
async function snapshotMember(
  deps: RpcRouting,
  options: SnapshotOptions | undefined,
): Promise<{ status: StatusResponse; endpoint: string | undefined }> {
  const call = rpcCallOptions(options);
  const request = create(StatusRequestSchema);
  if (options?.endpoint !== undefined) {
    return {
      status: await deps.rpcAt(options.endpoint).maintenance.status(request, call),
      endpoint: options.endpoint,
    };
  }
  // Begun here so the transport records the endpoint even when retries are off; a retry
  // interceptor begins its own record per attempt in the same place, the last one is the answer's.
  const values = call.contextValues ?? createContextValues();
  call.contextValues = values;
  beginAttempt(values);
  const status = await deps.rpc.maintenance.status(request, call);
  return { status, endpoint: currentAttempt(values)?.endpoint };
}

export async function snapshotToFile(
  deps: RpcRouting,
  path: string,
  options: SnapshotToFileOptions | undefined,
): Promise<SnapshotResult> {
  if (typeof path !== "string" || path.length === 0) throw invalidArgument("path must be a non-empty string");
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.part`);
  let file: FileHandle | undefined;
  let stream: AsyncGenerator<SnapshotResponse, void, undefined> | undefined;
  let step = "asking the member for its version (Status)";
  try {
    // A timeoutMs bounds the Status call and the stream together. Read the clock only for one.
    const startedAt = options?.timeoutMs === undefined ? 0 : Date.now();
    const { status, endpoint } = await snapshotMember(deps, options);
    const streamOptions: SnapshotOptions = { ...options };
    if (endpoint !== undefined) streamOptions.endpoint = endpoint;
    if (options?.timeoutMs !== undefined) {
      streamOptions.timeoutMs = Math.max(1, options.timeoutMs - (Date.now() - startedAt));
    }
    step = `creating ${temp}`;
    file = await open(temp, "wx", 0o600);
    const verifier = new SnapshotVerifier();
    let storageVersion: string | undefined;
    stream = snapshotStream(deps, streamOptions);
    for (;;) {
      step = "receiving the snapshot";
      const next = await stream.next();
      if (next.done) break;
      const { blob, remainingBytes, version } = next.value;
      if (version !== "") storageVersion ??= version;
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
    return {
      size: verifier.bytes,
      version: status.version,
      storageVersion,
      memberId: status.header?.memberId ?? 0n,
    };
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
