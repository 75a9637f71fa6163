import {
  type Bytes,
  type CallOptions,
  type EtcdApi,
  exists,
  type GetAllOptions,
  type GetOptions,
  getAll,
  getJson,
  getText,
  type RangeResponse,
} from "@etcd-connect/client";
import { namespaceKV } from "./namespace-kv.js";
import { namespaceLease } from "./namespace-lease.js";
import { namespaceWatcher } from "./namespace-watch.js";
import { namespacePrefix } from "./prefix.js";

/** What {@link namespace} wraps: a client, or another namespace. */
/** @deprecated Use {@link EtcdApi} from `@etcd-connect/client`: the same contract. */
export type NamespaceTarget = EtcdApi;

/**
 * A client's KV, watch and lease APIs confined to a key prefix; see {@link namespace}.
 * It is itself an {@link EtcdApi}, so namespaces nest.
 */
export interface Namespace extends EtcdApi {
  /** The bytes this namespace puts before every key (a copy; relative to a parent namespace). */
  readonly prefix: Uint8Array;
  /** A key's value as UTF-8 text, or undefined when it does not exist. */
  getText(key: Bytes, options?: GetOptions & CallOptions): Promise<string | undefined>;
  /** A key's value parsed as JSON, or undefined when it does not exist. */
  getJson<T = unknown>(key: Bytes, options?: GetOptions & CallOptions): Promise<T | undefined>;
  /** Whether a key exists. */
  exists(key: Bytes, options?: CallOptions): Promise<boolean>;
  /** Every key under a prefix of the namespace, page by page, all at one revision. */
  getAll(prefix: Bytes, options?: GetAllOptions): AsyncGenerator<RangeResponse>;
}

/**
 * Confines a client to the keys under `prefix`, as Go's clientv3/namespace: KV (txns
 * included), watch and lease `timeToLive` see and touch only keys that start with `prefix`,
 * and see them without it. The layout is plain concatenation, so Go and Node services share
 * a tenant. Code written against `KV` runs unchanged. Closing is the client's job.
 *
 * `namespace(namespace(client, "a/"), "b/")` behaves as `namespace(client, "a/b/")`.
 * An empty prefix is refused (reason `invalid_argument`).
 *
 * @example
 * const tenant = namespace(client, "tenants/acme/");
 * await tenant.put("plan", "gold"); // etcd key "tenants/acme/plan"
 * console.log(await tenant.getText("plan")); // "gold"
 * const everything = await tenant.get("", { prefix: true }); // acme's keys only
 */
export function namespace(client: EtcdApi, prefix: Bytes): Namespace {
  const pfx = namespacePrefix(prefix);
  const kv = namespaceKV(client, pfx);
  const watch = namespaceWatcher(client, pfx);
  return {
    ...kv,
    ...watch,
    lease: namespaceLease(client.lease, pfx),
    get prefix() {
      return pfx.slice();
    },
    getText: (key, options) => getText(kv, key, options),
    getJson: <T = unknown>(key: Bytes, options?: GetOptions & CallOptions) => getJson<T>(kv, key, options),
    exists: (key, options) => exists(kv, key, options),
    getAll: (allPrefix, options) => getAll(kv, allPrefix, options),
  };
}
