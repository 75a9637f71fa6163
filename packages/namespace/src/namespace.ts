import {
  type Bytes,
  type CallOptions,
  type ElectionService,
  type EtcdApi,
  exists,
  type GetAllOptions,
  type GetOptions,
  getAll,
  getJson,
  getText,
  type LockService,
  type RangeResponse,
} from "@etcd-connect/client";
import { namespaceElectionService } from "./namespace-election-service.js";
import { namespaceKV } from "./namespace-kv.js";
import { namespaceLease } from "./namespace-lease.js";
import { namespaceLockService } from "./namespace-lock-service.js";
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
 * The lock and election services a namespace of `T` carries: `lockService` and
 * `electionService` confined to the prefix when `T` has them (a `Client`, or a namespace of
 * one), nothing for a bare {@link EtcdApi}. They are not part of `EtcdApi`, so code written
 * against it keeps running on any target.
 */
export type NamespaceServices<T> = ([T] extends [{ readonly lockService: LockService }]
  ? { readonly lockService: LockService }
  : unknown) &
  ([T] extends [{ readonly electionService: ElectionService }]
    ? { readonly electionService: ElectionService }
    : unknown);

/**
 * Confines a client to the keys under `prefix`, as Go's clientv3/namespace: KV (txns
 * included), watch and lease `timeToLive` see and touch only keys that start with `prefix`,
 * and see them without it. The layout is plain concatenation, so Go and Node services share
 * a tenant. Code written against `KV` runs unchanged. Closing is the client's job.
 *
 * When `client` has `lockService` and `electionService` (a `Client` does), the namespace has
 * them too, confined as by `namespaceLockService` and `namespaceElectionService`: lock and
 * election names are prefixed, the keys that come back are not.
 *
 * `namespace(namespace(client, "a/"), "b/")` behaves as `namespace(client, "a/b/")`.
 * An empty prefix is refused (reason `invalid_argument`).
 *
 * @example
 * const tenant = namespace(client, "tenants/acme/");
 * await tenant.put("plan", "gold"); // etcd key "tenants/acme/plan"
 * console.log(await tenant.getText("plan")); // "gold"
 * const everything = await tenant.get("", { prefix: true }); // acme's keys only
 *
 * @typeParam Target - the wrapped API's type, which decides whether the namespace's type has
 * `lockService` and `electionService` (see {@link NamespaceServices}).
 */
export function namespace<Target extends EtcdApi>(
  client: Target,
  prefix: Bytes,
): Namespace & NamespaceServices<Target> {
  const pfx = namespacePrefix(prefix);
  const kv = namespaceKV(client, pfx);
  const watch = namespaceWatcher(client, pfx);
  const ns: Namespace = {
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
  // Assigned onto ns, not spread into a copy, which would freeze the prefix getter into one
  // shared array. The cast is the one step the compiler cannot follow: confinedServices adds
  // every service NamespaceServices<Target> names (and more when a target typed as a bare
  // EtcdApi is a Client at run time).
  return Object.assign(ns, confinedServices(client, pfx)) as Namespace & NamespaceServices<Target>;
}

/** The target's lock and election services under `prefix`, those it has. */
function confinedServices(
  target: EtcdApi & { readonly lockService?: LockService; readonly electionService?: ElectionService },
  prefix: Uint8Array,
): { lockService?: LockService; electionService?: ElectionService } {
  // Looked up at run time: a target typed as a bare EtcdApi may still be a Client.
  return {
    ...(target.lockService === undefined
      ? {}
      : { lockService: namespaceLockService(target.lockService, prefix) }),
    ...(target.electionService === undefined
      ? {}
      : { electionService: namespaceElectionService(target.electionService, prefix) }),
  };
}
