import type { Bytes } from "../bytes.js";
import type { EtcdError } from "../errors.js";
import type { KV } from "../kv/kv.js";
import type { WatchApi } from "../watch/watch.js";

/**
 * What a mirror reads from: anything with `get` and `watch`, such as a {@link Client} or a
 * namespace of it (`@etcd-connect/namespace`), whose keys the mirror then sees relative.
 */
export type MirrorSource = Pick<KV, "get"> & Pick<WatchApi, "watch">;

/** Options of {@link createMirror}. */
export interface MirrorOptions<V = Uint8Array> {
  /** Closes the mirror when aborted, as `close()` does. Default: none. */
  signal?: AbortSignal;
  /**
   * Keys per page of a list (the first one and every resync); each page is one Range of at most
   * this many keys, all pages at one revision. Default: 1000, as Go's `mirror.Syncer`.
   */
  pageSize?: number;
  /**
   * Turns a value into what the mirror keeps, once per write: `bytesToText` keeps strings (a
   * 128-byte value costs 140 bytes as text, about 300 as a `Uint8Array`), a JSON parser keeps
   * objects. It must return a value (not `undefined`); if it throws, the mirror ends with that
   * error (reason `invalid_argument`). Default: a copy of the bytes (a received value is a view
   * into its whole response, which it would keep alive).
   */
  decode?: (value: Uint8Array, key: Uint8Array) => V;
  /**
   * Changes one reader of {@link Mirror.changes} may leave unread. Past it, what it has not read
   * is merged into one `coalesced` batch with at most one change per key (the value it last saw
   * and the latest), and later changes merge into that batch until it is read: a slow reader
   * costs at most one pending change per key, however long it stalls. Default: 10000.
   */
  maxPendingChanges?: number;
}

/** One key of a {@link Mirror}. */
export interface MirrorEntry<V = Uint8Array> {
  /** The key (relative to a namespace when the source is one). */
  readonly key: Uint8Array;
  /** The value, as {@link MirrorOptions.decode} made it. */
  readonly value: V;
  /** The revision of the key's last write. */
  readonly modRevision: bigint;
}

/**
 * One change of a mirrored key. `modRevision` is the revision of the write; for a delete found
 * by a resync (the delete itself was compacted away) it is the revision of the resync's list.
 */
export type MirrorChange<V = Uint8Array> =
  | {
      readonly type: "put";
      readonly key: Uint8Array;
      readonly value: V;
      /** The value before, or undefined when the key is new. */
      readonly prevValue: V | undefined;
      readonly modRevision: bigint;
    }
  | {
      readonly type: "delete";
      readonly key: Uint8Array;
      /** The value the key had. */
      readonly prevValue: V;
      readonly modRevision: bigint;
    };

/**
 * Changes of a mirror, applied in order; after them the mirror is at `revision`.
 *
 * - `events`: one watch answer, every event in revision order.
 * - `initial`: the first list, every key as a put.
 * - `resync`: the exact difference between the mirror before and a new list, after the watch
 *   could not resume (its history was compacted): puts for new and rewritten keys, deletes for
 *   vanished ones, nothing for keys left alone; what happened in between is gone.
 * - `coalesced`: a reader fell behind (see {@link MirrorOptions.maxPendingChanges}): the
 *   difference between what it last saw and now, one change per key, in no particular order.
 */
export interface MirrorBatch<V = Uint8Array> {
  readonly kind: "events" | "initial" | "resync" | "coalesced";
  readonly changes: MirrorChange<V>[];
  /** The mirror's revision after these changes. */
  readonly revision: bigint;
}

/** Whether a mirror follows etcd right now; see {@link Mirror.status}. */
export interface MirrorStatus {
  /**
   * - `listing`: the first list is being read, or the watch after it is not yet confirmed.
   * - `live`: a watch serves the mirror; every change reaches it.
   * - `reconnecting`: the watch's stream failed and is resuming (a member down, a partition):
   *   the contents may be stale, nothing is lost once it is `live` again.
   * - `resyncing`: the watch could not resume (compacted); a new list is being read, and the
   *   contents stay as they were until it is complete.
   * - `closed`: closed, or failed with `error`; the contents stay as they were last.
   */
  readonly state: "listing" | "live" | "reconnecting" | "resyncing" | "closed";
  /** When this state began (epoch ms). */
  readonly since: number;
  /** The revision the contents reflect (0 before the first list). */
  readonly revision: bigint;
  /** Why the mirror ended, when a failure ended it. */
  readonly error: EtcdError | undefined;
}

/** Options of {@link Mirror.changes}. */
export interface MirrorChangesOptions {
  /** Ends the iteration when aborted. Default: none. */
  signal?: AbortSignal;
}

/**
 * The keys under a prefix, kept in memory and up to date, as Go's `mirror.Syncer` grown into a
 * map: read at one revision (paged), then followed by a watch from the next revision. When the
 * watch cannot resume (its revision was compacted, after a long partition or a slow reader),
 * the prefix is listed again and the exact difference applied at once: the map never goes
 * silently stale, and {@link Mirror.status} says when it may be.
 *
 * Memory: one entry per key (its value and mod revision): about 115 bytes, plus the key (12
 * bytes plus one per byte), plus the value (a string: 12 bytes plus one per byte; a `Uint8Array`:
 * about 175 bytes of objects plus its contents); see the README for measured figures. A resync holds the keys that changed until its list
 * is complete, at worst a second copy of the prefix.
 *
 * @example
 * const mirror = createMirror(client, "config/", { decode: bytesToText });
 * await mirror.ready;
 * console.log(mirror.get("config/db")?.value);
 * for await (const batch of mirror.changes()) {
 *   for (const change of batch.changes) console.log(change.type, bytesToText(change.key));
 * }
 */
export interface Mirror<V = Uint8Array> extends AsyncDisposable {
  /**
   * Resolves once the first list is complete: from then on the contents are the prefix at
   * {@link Mirror.revision} or later. Rejects if the mirror ends first.
   */
  readonly ready: Promise<void>;
  /**
   * The revision the contents reflect: of the last list or change (0 before the first list). A
   * quiet prefix leaves it where it is while etcd's revision moves on; `status` says whether the
   * mirror is live.
   */
  readonly revision: bigint;
  /** Keys in the mirror. */
  readonly size: number;
  /** Whether etcd is followed right now; see {@link MirrorStatus}. */
  readonly status: MirrorStatus;
  /** Resolves with the status after its next change (at once with `closed` once closed). */
  statusChanged(): Promise<MirrorStatus>;
  /** A key's entry, or undefined when the mirror has no such key. Text keys are UTF-8. */
  get(key: Bytes): MirrorEntry<V> | undefined;
  /** Every entry, in no particular order (each key is copied out as it is reached). */
  entries(): IterableIterator<MirrorEntry<V>>;
  /**
   * The changes from now on, as batches (see {@link MirrorBatch}); each call is a reader of its
   * own. A reader started before `ready` gets the first list as one `initial` batch (a change
   * and a copy of the key per key); a later one reads `entries()` in the same tick for the state
   * its first batch starts from. Leaving the loop, its `signal`, or closing the mirror end it; a
   * failure of the mirror is thrown.
   */
  changes(options?: MirrorChangesOptions): AsyncIterableIterator<MirrorBatch<V>>;
  /** Stops following etcd (the watch is cancelled) and ends every reader of `changes()`. */
  close(): Promise<void>;
}
