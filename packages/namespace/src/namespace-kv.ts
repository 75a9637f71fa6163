import type { Bytes, KV } from "@etcd-connect/client";
import { invalidArgument } from "./errors.js";
import { namespaceTxn } from "./namespace-txn.js";
import { keyBytes, namespacePrefix, prefixKey, prefixSelection, withRangeEnd } from "./prefix.js";
import { stripDeleteResponse, stripPutResponse, stripRangeResponse } from "./strip-responses.js";

/**
 * A KV whose keys live under `prefix`, as Go's `namespace.NewKV`: every request key and range
 * end is prefixed (prefix, from-key and all-keys reads and deletes stay inside the prefix), every
 * key of a response comes back without it, txns included. `compact` passes through: revisions
 * are global.
 *
 * @example
 * const tenant = namespaceKV(client, "tenant-a/");
 * await tenant.put("config", "x"); // etcd key "tenant-a/config"
 * const all = await tenant.get("", { prefix: true }); // only tenant-a's keys, as "config", ...
 */
export function namespaceKV(kv: KV, prefix: Bytes): KV {
  const pfx = namespacePrefix(prefix);
  return {
    get: async (key, options) => {
      const range = prefixSelection(pfx, key, options);
      return stripRangeResponse(pfx, await kv.get(range.key, withRangeEnd(options, range.rangeEnd)));
    },
    put: async (key, value, options) => {
      const k = keyBytes(key);
      // The layer below would see prefix + "" as a valid key and write the prefix itself.
      if (k.length === 0) throw invalidArgument("key must not be empty");
      return stripPutResponse(pfx, await kv.put(prefixKey(pfx, k), value, options));
    },
    delete: async (key, options) => {
      const range = prefixSelection(pfx, key, options);
      return stripDeleteResponse(pfx, await kv.delete(range.key, withRangeEnd(options, range.rangeEnd)));
    },
    txn: () => namespaceTxn(kv, pfx),
    compact: (revision, options) => kv.compact(revision, options),
  };
}
