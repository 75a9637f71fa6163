// A reader of a busy stream takes what one socket read delivered in one go. Through `next()` alone
// every message costs a promise, a microtask hop and the reader's resumption: one read may hold
// many watch responses (a catch-up) or keepalive answers, and the writer of a lease keepalive
// stream takes a whole batch of renewals from one timer. The protocol is keyed by a symbol, as the iteration protocols are,
// so that a caller's iterator with a method of the same name is never mistaken for it.

/** The key of {@link PollableIterator}'s method. */
export const pollSymbol: unique symbol = Symbol("etcd-connect.poll");

/** An async iterator that also hands out, without a promise, a result it already holds. */
export interface PollableIterator<T> extends AsyncIterator<T> {
  /**
   * What `next()` would settle with, when that is known now: the result, or a throw of the
   * error it would reject with. `undefined` when `next()` has to wait.
   */
  [pollSymbol](): IteratorResult<T> | undefined;
}

/**
 * The result `iterator` holds now (see {@link PollableIterator}); `undefined` when it has none
 * ready or is not pollable, and the caller awaits `next()`.
 */
export function poll<T>(iterator: AsyncIterator<T>): IteratorResult<T> | undefined {
  return (iterator as Partial<PollableIterator<T>>)[pollSymbol]?.();
}
