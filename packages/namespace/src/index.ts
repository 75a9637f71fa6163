/**
 * Prefix isolation of KV, Txn, Watch, Lease, and etcd's lock and election services for
 * multi-tenant apps.
 *
 * @document ../README.md
 * @packageDocumentation
 * @module @etcd-connect/namespace
 */

export type { Namespace, NamespaceServices, NamespaceTarget } from "./namespace.js";
export { namespace } from "./namespace.js";
export { namespaceElectionService } from "./namespace-election-service.js";
export { namespaceKV } from "./namespace-kv.js";
export { namespaceLease } from "./namespace-lease.js";
export { namespaceLockService } from "./namespace-lock-service.js";
export { namespaceWatcher } from "./namespace-watch.js";
export type { KeyInterval } from "./prefix.js";
export { prefixInterval, stripPrefix } from "./prefix.js";
