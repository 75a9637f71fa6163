import { createHash, randomBytes } from "node:crypto";
import { type FileHandle, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { SnapshotRequestSchema, type SnapshotResponse } from "@etcd-connect/api/etcdserverpb";
import { type CallOptions, pickCallOptions } from "../call-options.js";
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

export async function snapshotToFile(
  deps: RpcRouting,
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
