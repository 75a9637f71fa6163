import { onAbort } from "@etcd-connect/transport";
import { binaryKey } from "./binary-key.js";
import type { MirrorBatch, MirrorChange } from "./mirror.js";

// A key's pending change while a reader is behind: what it last saw of the key (`before`,
// undefined when the key did not exist for it) and what the mirror holds now (`after`).
interface Pending<V> {
  key: Uint8Array;
  readonly before: V | undefined;
  after: V | undefined;
  modRevision: bigint;
}

/**
 * One reader's batches of a mirror. Batches queue until the reader takes them; once more than
 * `maxPending` changes wait, the queue turns into one map of pending changes by key, and later
 * batches merge into it until the reader takes it as one `coalesced` batch. The reader then
 * sees the same end state, and the queue holds at most one change per key that exists now or
 * existed when the reader last read: bounded by the prefix, not by how long the reader stalls.
 */
export class ChangeQueue<V> implements AsyncIterableIterator<MirrorBatch<V>> {
  private readonly maxPending: number;
  private readonly onEnd: (queue: ChangeQueue<V>) => void;
  private batches: MirrorBatch<V>[] = [];
  private pending = 0;
  private coalesced: Map<string, Pending<V>> | undefined;
  private coalescedRevision = 0n;
  private waiting: ((result: IteratorResult<MirrorBatch<V>>) => void) | undefined;
  private failWaiting: ((error: unknown) => void) | undefined;
  private ended = false;
  private error: unknown;
  private detach: (() => void) | undefined;

  /**
   * @param maxPending changes queued before they are coalesced.
   * @param onEnd runs once when the queue ends (the reader left, its signal, or `end()`).
   */
  constructor(maxPending: number, onEnd: (queue: ChangeQueue<V>) => void, signal?: AbortSignal) {
    this.maxPending = maxPending;
    this.onEnd = onEnd;
    if (signal?.aborted) this.end();
    else if (signal !== undefined) this.detach = onAbort(signal, () => this.end());
  }

  /** Changes waiting for the reader (in the coalesced map, one per key). */
  get size(): number {
    return this.coalesced?.size ?? this.pending;
  }

  /** True once the queue ended: its reader left, its signal aborted, or the mirror ended. */
  get isEnded(): boolean {
    return this.ended;
  }

  /** Whether unread changes were merged into one batch for a reader that fell behind. */
  get isCoalescing(): boolean {
    return this.coalesced !== undefined;
  }

  /** Hands a batch to the reader, queues it, or merges it into the coalesced changes. */
  push(batch: MirrorBatch<V>): void {
    if (this.ended) return;
    const waiting = this.waiting;
    if (waiting !== undefined) {
      this.waiting = undefined;
      this.failWaiting = undefined;
      waiting({ done: false, value: batch });
      return;
    }
    if (this.coalesced !== undefined) {
      this.merge(batch);
      return;
    }
    this.batches.push(batch);
    this.pending += batch.changes.length;
    // One batch alone is kept as it is: merging it would not make it smaller.
    if (this.pending > this.maxPending && this.batches.length > 1) {
      this.coalesced = new Map();
      for (const queued of this.batches) this.merge(queued);
      this.batches = [];
      this.pending = 0;
    }
  }

  private merge(batch: MirrorBatch<V>): void {
    const map = this.coalesced as Map<string, Pending<V>>;
    this.coalescedRevision = batch.revision;
    for (const change of batch.changes) {
      const id = binaryKey(change.key);
      const after = change.type === "put" ? change.value : undefined;
      const pending = map.get(id);
      if (pending === undefined) {
        map.set(id, { key: change.key, before: change.prevValue, after, modRevision: change.modRevision });
        continue;
      }
      pending.key = change.key;
      pending.after = after;
      pending.modRevision = change.modRevision;
      // Created and deleted since the reader last looked: nothing to tell it, nothing to keep.
      if (pending.before === undefined && after === undefined) map.delete(id);
    }
  }

  private takeCoalesced(map: Map<string, Pending<V>>): MirrorBatch<V> {
    const changes: MirrorChange<V>[] = [];
    for (const { key, before, after, modRevision } of map.values()) {
      if (after !== undefined)
        changes.push({ type: "put", key, value: after, prevValue: before, modRevision });
      else if (before !== undefined) changes.push({ type: "delete", key, prevValue: before, modRevision });
    }
    return { kind: "coalesced", changes, revision: this.coalescedRevision };
  }

  /** Ends the queue: the reader gets what is queued, then the end (or `error`). */
  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.error = error;
    this.detach?.();
    this.detach = undefined;
    this.onEnd(this);
    if (this.waiting !== undefined) this.settleWaiting();
  }

  private settleWaiting(): void {
    const waiting = this.waiting;
    const fail = this.failWaiting;
    this.waiting = undefined;
    this.failWaiting = undefined;
    const error = this.error;
    this.error = undefined;
    if (error !== undefined) fail?.(error);
    else waiting?.({ done: true, value: undefined });
  }

  next(): Promise<IteratorResult<MirrorBatch<V>>> {
    const map = this.coalesced;
    if (map !== undefined) {
      this.coalesced = undefined;
      return Promise.resolve({ done: false, value: this.takeCoalesced(map) });
    }
    const batch = this.batches.shift();
    if (batch !== undefined) {
      this.pending -= batch.changes.length;
      return Promise.resolve({ done: false, value: batch });
    }
    if (this.ended) {
      const error = this.error;
      this.error = undefined;
      return error === undefined ? Promise.resolve({ done: true, value: undefined }) : Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.failWaiting = reject;
    });
  }

  /** The reader left (`break`): nothing more is queued for it. */
  return(): Promise<IteratorResult<MirrorBatch<V>>> {
    this.batches = [];
    this.pending = 0;
    this.coalesced = undefined;
    this.end();
    return Promise.resolve({ done: true, value: undefined });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
