import type { KV } from "./kv/kv.js";
import type { Lease } from "./lease/lease.js";
import type { WatchApi } from "./watch/watch.js";

/**
 * The etcd API that wrappers and recipes build on: KV (with txns), watch and lease. A
 * {@link Client} is one, and so is a namespace of it (`@etcd-connect/namespace`), so code written
 * against `EtcdApi` (the concurrency recipes, your own) runs on either.
 */
export interface EtcdApi extends KV, WatchApi {
  readonly lease: Lease;
}
