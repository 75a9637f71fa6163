import { type PollableIterator, pollSymbol } from "@etcd-connect/transport";

/**
 * An unbounded single-consumer queue that is an AsyncIterable: `push` never waits, the
 * consumer's `next()` waits when empty. `end()` finishes it, optionally with an error the
 * consumer receives after the queued items.
 *
 * Why not connect's createWritableIterable: each of its writes awaits the reads of every write
 * queued before it, so n queued writes cost O(n^2) awaits (10,000 watch creates on one stream).
 */
export class AsyncQueue<T> implements AsyncIterableIterator<T>, PollableIterator<T> {
  private items: Array<T | undefined> = [];
  private head = 0;
  private waiting: ((result: IteratorResult<T>) => void) | undefined;
  private failWaiting: ((error: unknown) => void) | undefined;
  private ended = false;
  private error: unknown;
  private readonly onReturn: (() => void) | undefined;

  /** @param onReturn runs once when the consumer stops early (`break`, `return()`). */
  constructor(onReturn?: () => void) {
    this.onReturn = onReturn;
  }

  /** Items waiting for the consumer. */
  get size(): number {
    return this.items.length - this.head;
  }

  /** True once `end()` was called. */
  get isEnded(): boolean {
    return this.ended;
  }

  /** Adds an item; ignored after `end()`. */
  push(item: T): void {
    if (this.ended) return;
    const waiting = this.waiting;
    if (waiting !== undefined) {
      this.waiting = undefined;
      this.failWaiting = undefined;
      waiting({ done: false, value: item });
      return;
    }
    this.items.push(item);
  }

  /**
   * Adds an item and lets go of the oldest ones so that at most `keep` wait (at least one: the
   * new item). For a consumer that only wants what is latest (an unread lease keeper): no
   * promise is made for the items dropped.
   */
  pushLatest(item: T, keep: number): void {
    if (this.ended) return;
    const drop = this.size - Math.max(0, keep - 1);
    if (drop <= 0) {
      this.push(item);
      return;
    }
    for (let i = 0; i < drop; i++) this.items[this.head++] = undefined;
    if (this.head < this.items.length) {
      this.items.push(item);
      // An unread queue must not grow with the slots it let go of.
      this.compact();
      return;
    }
    // Everything went (nobody waits on a queue that held items): the new item takes the first
    // slot, and the array is trimmed in place rather than regrown.
    this.items[0] = item;
    if (this.items.length !== 1) this.items.length = 1;
    this.head = 0;
  }

  /** Ends the queue: the consumer gets the queued items, then `done` (or `error`). */
  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.error = error;
    if (this.waiting !== undefined && this.size === 0) this.settleWaiting();
  }

  private settleWaiting(): void {
    const waiting = this.waiting;
    const fail = this.failWaiting;
    this.waiting = undefined;
    this.failWaiting = undefined;
    if (this.error !== undefined) fail?.(this.error);
    else waiting?.({ done: true, value: undefined });
  }

  next(): Promise<IteratorResult<T>> {
    let result: IteratorResult<T> | undefined;
    try {
      result = this[pollSymbol]();
    } catch (error) {
      return Promise.reject(error);
    }
    if (result !== undefined) return Promise.resolve(result);
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.failWaiting = reject;
    });
  }

  /**
   * What `next()` would settle with when that is known now: the next item, the end, or a throw
   * of the error the queue ended with; `undefined` while the consumer would wait.
   */
  [pollSymbol](): IteratorResult<T> | undefined {
    if (this.head < this.items.length) {
      const value = this.items[this.head] as T;
      // The slot lets go of the item at once: an unread queue that drops its oldest item (a
      // lease keeper) must not keep every item it ever took until the next compaction.
      this.items[this.head++] = undefined;
      this.compact();
      return { done: false, value };
    }
    if (!this.ended) return undefined;
    if (this.error !== undefined) {
      const error = this.error;
      this.error = undefined;
      throw error;
    }
    return { done: true, value: undefined };
  }

  // Now and then, so that a long-lived queue does not keep the slots it let go of.
  private compact(): void {
    if (this.head >= 32 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  return(): Promise<IteratorResult<T>> {
    if (!this.ended) {
      this.ended = true;
      this.items = [];
      this.head = 0;
      this.onReturn?.();
    }
    return Promise.resolve({ done: true, value: undefined });
  }

  /** A producer-side failure (Connect's pipeline calls this): ends the queue like `return()`. */
  throw(error?: unknown): Promise<IteratorResult<T>> {
    void error;
    return this.return();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
