import type { KeyValue } from "@etcd-connect/api/mvccpb";
import type { Bytes } from "../bytes.js";
import { type CallOptions, pickCallOptions } from "../call-options.js";
import { invalidArgument } from "../errors.js";
import type { Int64Like } from "../int64.js";
import type { KV } from "./kv.js";

/** Options of {@link getFirst} and {@link getLast}. */
export interface FirstLastOptions extends CallOptions {
  /**
   * What orders the keys: `"key"` (bytewise), `"create"` (creation revision) or `"mod"` (last
   * modification revision). Go's `WithFirstKey`/`WithLastKey`, `WithFirstCreate`/`WithLastCreate`,
   * `WithFirstRev`/`WithLastRev`. Default: "key".
   */
  by?: "key" | "create" | "mod";
  /** Read at this revision; 0 is the latest. Default: 0. */
  revision?: Int64Like;
  /** Answer from the member's local state without a quorum read (may be stale). Default: false. */
  serializable?: boolean;
  /** Return the key without its value. Default: false. */
  keysOnly?: boolean;
}

const orders = { key: true, create: true, mod: true } as const;

/**
 * The first key under a prefix (an empty prefix: of every key) by key, creation or modification
 * revision, or undefined when there is none: one read with limit 1.
 *
 * @example
 * const oldest = await getFirst(client, "queue/", { by: "create" }); // the longest-waiting job
 */
export function getFirst(kv: KV, prefix: Bytes, options?: FirstLastOptions): Promise<KeyValue | undefined> {
  return top(kv, prefix, "ascend", options);
}

/**
 * The last key under a prefix (an empty prefix: of every key) by key, creation or modification
 * revision, or undefined when there is none: one read with limit 1.
 *
 * @example
 * const latest = await getLast(client, "config/", { by: "mod" }); // the key changed last
 */
export function getLast(kv: KV, prefix: Bytes, options?: FirstLastOptions): Promise<KeyValue | undefined> {
  return top(kv, prefix, "descend", options);
}

async function top(
  kv: KV,
  prefix: Bytes,
  order: "ascend" | "descend",
  options: FirstLastOptions | undefined,
): Promise<KeyValue | undefined> {
  const by = options?.by ?? "key";
  if (!Object.hasOwn(orders, by)) {
    throw invalidArgument(`by must be "key", "create" or "mod", got ${JSON.stringify(by)}`);
  }
  // etcd returns keys in ascending key order anyway, and only unsorted reads stop at the limit:
  // asking it to sort by key ascending would read the whole range to return one key (Go's WithSort
  // drops that sort for the same reason).
  const sortOrder = by === "key" && order === "ascend" ? "none" : order;
  const res = await kv.get(prefix, {
    ...pickCallOptions(options),
    prefix: true,
    limit: 1,
    sortOrder,
    sortTarget: by,
    ...(options?.revision === undefined ? {} : { revision: options.revision }),
    ...(options?.serializable === undefined ? {} : { serializable: options.serializable }),
    ...(options?.keysOnly === undefined ? {} : { keysOnly: options.keysOnly }),
  });
  return res.kvs[0];
}
