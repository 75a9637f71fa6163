import type { EtcdApi } from "@etcd-connect/client";
import { type Bytes, EtcdError, type Event, EventType } from "@etcd-connect/client";

/** What {@link waitEvent} waits for. */
export interface WaitEventOptions {
  /** The first revision to look at; history from there on counts. */
  startRevision: bigint;
  /** The kind of event that ends the wait. */
  type: EventType;
  /** Watch every key under `key` instead of `key` alone. Default: false. */
  prefix?: boolean;
}

/**
 * Waits for the first event of `options.type` on a key (or under a prefix) from
 * `options.startRevision` on, and resolves with it. Resolves `undefined` when etcd compacted the
 * history past the start revision: the caller reads the current state again instead of
 * trusting a window it can no longer see. Rejects when `signal` aborts.
 */
export async function waitEvent(
  client: EtcdApi,
  key: Bytes,
  options: WaitEventOptions,
  signal: AbortSignal,
): Promise<Event | undefined> {
  // The caller's signal as it is: the client's watch holds one listener per signal and lets go
  // of it when the watch ends.
  const watcher = client.watch(key, {
    startRevision: options.startRevision,
    prefix: options.prefix ?? false,
    // etcd filters the other kind out on its side.
    ...(options.type === EventType.PUT ? { noDelete: true } : { noPut: true }),
    signal,
  });
  try {
    for await (const batch of watcher) {
      const event = batch.events.find((e) => e.type === options.type);
      if (event !== undefined) return event;
    }
  } catch (error) {
    if (EtcdError.is(error, "compacted")) return undefined;
    throw error;
  } finally {
    await watcher.close();
  }
  signal.throwIfAborted();
  // A watch that ends without an error, unasked, is a client bug; do not spin on it.
  throw new Error("etcd-connect: watch ended while waiting for an event");
}
