import { type Bytes, type EtcdApi, EventType } from "@etcd-connect/client";
import { canceled } from "./concurrency-error.js";
import { recipePrefix } from "./keys.js";
import { claimKey, putUniqueKey } from "./recipe-keys.js";
import { waitEvent } from "./wait-event.js";

/** Options of the queue calls. */
export interface QueueCallOptions {
  /** Gives up: a waiting `dequeue()` rejects with `canceled` and takes nothing. */
  signal?: AbortSignal;
}

/** An item taken off a queue by `dequeue()`. */
export interface QueueItem {
  /** The item's key (relative to a namespace when the queue runs in one). */
  key: Uint8Array;
  /** The value it was enqueued with. */
  value: Uint8Array;
  /** The mod revision of the item: its place in a {@link Queue}. */
  modRevision: bigint;
  /**
   * The revision of the delete that claimed the item for us. Claims are ordered like the items:
   * of two items, the one first in the queue is claimed at the lower revision, whoever takes it.
   */
  claimRevision: bigint;
}

/**
 * A first-in, first-out queue shared by any number of producers and consumers, as Go's
 * `recipe.Queue` and with its key layout: each item is the key `<name>/<ns>` (`<ns>` the clock
 * in nanoseconds, to keep keys unique) holding the value, without a lease. The order is the
 * order of the writes (mod revision), not of the key names, so items put by others under
 * `<name>/` with any name (`etcdctl put jobs/x value`) join the queue too.
 *
 * `dequeue()` claims the oldest item with a delete guarded by its mod revision, so each item
 * goes to exactly one consumer; it waits (a watch, no polling) while the queue is empty.
 *
 * @example
 * const jobs = createQueue(client, "queues/jobs");
 * await jobs.enqueue("resize photo 1");
 * const item = await jobs.dequeue(); // waits while the queue is empty
 * console.log(new TextDecoder().decode(item.value));
 */
export interface Queue {
  /** The client (or namespace) the queue lives on. */
  readonly client: EtcdApi;
  /** The key prefix: the name and a "/". */
  readonly prefix: string;
  /**
   * Appends `value` and resolves with the new item's key. An enqueue aborted in flight may
   * still have added the item.
   */
  enqueue(value: Bytes, options?: QueueCallOptions): Promise<string>;
  /**
   * Takes the oldest item, waiting while there is none. An item whose claim was sent is always
   * returned, even if the signal aborts meanwhile, so no item is dropped on the floor. As in
   * Go, delivery is at most once: a consumer that dies after its claim loses that item.
   */
  dequeue(options?: QueueCallOptions): Promise<QueueItem>;
}

/**
 * A queue named `name`, as Go's `recipe.NewQueue(client, name)`: items are `<name>/<ns>`.
 *
 * @example
 * const jobs = createQueue(client, "queues/jobs");
 */
export function createQueue(client: EtcdApi, name: string): Queue {
  const prefix = recipePrefix(name);
  return {
    client,
    prefix,
    enqueue: async (value, options = {}) => {
      const { key } = await putUniqueKey(client, prefix, value, { lease: 0n, signal: options.signal });
      return key;
    },
    dequeue: (options = {}) => dequeueFirst(client, prefix, "mod", options.signal, "dequeue()"),
  };
}

/**
 * Claims the first key under `prefix` in `order` (by mod revision for a queue, by key for a
 * priority queue), waiting for a put while there is none. A claim lost to another consumer
 * reads again: the next item is now first.
 */
export async function dequeueFirst(
  client: EtcdApi,
  prefix: string,
  order: "mod" | "key",
  signal: AbortSignal | undefined,
  what: string,
): Promise<QueueItem> {
  // The waits need a signal; without the caller's, one that never aborts.
  const wait = signal ?? new AbortController().signal;
  try {
    for (;;) {
      wait.throwIfAborted();
      const res = await client.get(prefix, {
        prefix: true,
        sortTarget: order,
        sortOrder: "ascend",
        limit: 1,
        signal: wait,
      });
      const first = res.kvs[0];
      if (first !== undefined) {
        const claimed = await claimKey(client, first);
        if (claimed !== undefined) {
          return {
            key: first.key,
            value: first.value,
            modRevision: first.modRevision,
            claimRevision: claimed,
          };
        }
        continue;
      }
      // Empty at this revision: the next put under the prefix is worth another look.
      await waitEvent(
        client,
        prefix,
        { startRevision: (res.header?.revision ?? 0n) + 1n, type: EventType.PUT, prefix: true },
        wait,
      );
    }
  } catch (error) {
    if (signal?.aborted) throw canceled(signal, `${what} on ${prefix}`);
    throw error;
  }
}
