import type { Bytes, EtcdApi } from "@etcd-connect/client";
import { invalidArgument } from "./concurrency-error.js";
import { recipePrefix } from "./keys.js";
import { dequeueFirst, type QueueCallOptions, type QueueItem } from "./queue.js";
import { putSequentialKey } from "./recipe-keys.js";

/** The highest priority number (the least urgent): Go takes a `uint16`. */
export const maxPriority = 65535;

/**
 * A queue ordered by priority, then first-in first-out, as Go's `recipe.PriorityQueue` and with
 * its key layout: an item is `<name>/<priority, 5 digits>/<sequence, 16 digits>`, and each
 * priority has a bookkeeping key `__<name>/<priority, 5 digits>` that makes sequence numbers
 * unique. The lowest number comes out first (0 is the most urgent), and within a priority the
 * first enqueued.
 *
 * @example
 * const tasks = createPriorityQueue(client, "queues/tasks");
 * await tasks.enqueue("rebuild index", 10);
 * await tasks.enqueue("page the on-call", 0);
 * const first = await tasks.dequeue(); // "page the on-call"
 */
export interface PriorityQueue {
  /** The client (or namespace) the queue lives on. */
  readonly client: EtcdApi;
  /** The key prefix: the name and a "/". */
  readonly prefix: string;
  /**
   * Adds `value` with `priority`, an integer from 0 (first out) to 65535, and resolves with the
   * item's key. An enqueue aborted in flight may still have added the item.
   */
  enqueue(value: Bytes, priority: number, options?: QueueCallOptions): Promise<string>;
  /**
   * Takes the most urgent item (lowest priority number, then oldest), waiting while there is
   * none. As {@link Queue.dequeue}: a claimed item is always returned, delivery is at most once.
   */
  dequeue(options?: QueueCallOptions): Promise<QueueItem>;
}

/**
 * A priority queue named `name`, as Go's `recipe.NewPriorityQueue(client, name)`.
 *
 * @example
 * const tasks = createPriorityQueue(client, "queues/tasks");
 */
export function createPriorityQueue(client: EtcdApi, name: string): PriorityQueue {
  const prefix = recipePrefix(name);
  return {
    client,
    prefix,
    enqueue: async (value, priority, options = {}) => {
      if (!Number.isInteger(priority) || priority < 0 || priority > maxPriority) {
        throw invalidArgument(
          `priority must be an integer from 0 to ${maxPriority}, got ${String(priority)}`,
        );
      }
      const level = `${prefix}${String(priority).padStart(5, "0")}`;
      const { key } = await putSequentialKey(client, level, value, options.signal);
      return key;
    },
    dequeue: (options = {}) => dequeueFirst(client, prefix, "key", options.signal, "dequeue()"),
  };
}
