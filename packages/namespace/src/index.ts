/**
 * Prefix isolation of KV, Txn, Watch and Lease for multi-tenant apps.
 *
 * @document ../README.md
 * @packageDocumentation
 * @module @etcd-connect/namespace
 */

export type { Namespace, NamespaceTarget } from "./namespace.js";
export { namespace } from "./namespace.js";
export { namespaceKV } from "./namespace-kv.js";
export { namespaceLease } from "./namespace-lease.js";
export { namespaceWatcher } from "./namespace-watch.js";
export type { KeyInterval } from "./prefix.js";
export { prefixInterval, stripPrefix } from "./prefix.js";
