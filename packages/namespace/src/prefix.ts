import { type Bytes, keyRange, prefixEnd, type RangeSelector, toBytes } from "@etcd-connect/client";
import { invalidArgument } from "./errors.js";

/** A key and range end as etcd takes them: an empty `rangeEnd` selects the key alone. */
export interface KeyInterval {
  key: Uint8Array;
  rangeEnd: Uint8Array;
}

/**
 * Checks and copies a namespace prefix. A later change to the caller's bytes must not move the
 * namespace, and an empty prefix is refused: it would isolate nothing, which in a multi-tenant
 * service almost always means a tenant id went missing.
 */
export function namespacePrefix(prefix: Bytes): Uint8Array {
  const bytes = keyBytes(prefix, "namespace prefix").slice();
  if (bytes.length === 0) {
    throw invalidArgument("namespace prefix must not be empty: an empty prefix isolates nothing");
  }
  return bytes;
}

/** Text or bytes as bytes; anything else (from untyped callers) is refused, not stringified. */
export function keyBytes(key: Bytes, what = "key"): Uint8Array {
  if (typeof key !== "string" && !(key instanceof Uint8Array)) {
    throw invalidArgument(`${what} must be a string or Uint8Array`);
  }
  return toBytes(key);
}

/**
 * `prefix` followed by a name or key that must not be empty (a lock or election name, a lock or
 * leader key): prefixed, an empty one would be the prefix itself, which the layer below takes as
 * a valid name.
 */
export function prefixName(prefix: Uint8Array, name: Bytes, what: string): Uint8Array {
  const bytes = keyBytes(name, what);
  if (bytes.length === 0) throw invalidArgument(`${what} must not be empty`);
  return prefixKey(prefix, bytes);
}

/** `prefix` followed by `key`: the key layout of Go's clientv3/namespace. */
export function prefixKey(prefix: Uint8Array, key: Uint8Array): Uint8Array {
  const out = new Uint8Array(prefix.length + key.length);
  out.set(prefix);
  out.set(key, prefix.length);
  return out;
}

function isFromKeyEnd(end: Uint8Array): boolean {
  return end.length === 1 && end[0] === 0;
}

/**
 * Moves etcd's [key, end) under `prefix`.
 *
 * - No end (or an empty one): the single key `prefix + key`.
 * - End "\0" (from `key` on, or every key): up to the end of the prefix, i.e. the prefix with
 *   its last byte below 0xff incremented and the rest dropped (`prefixEnd`). For a prefix of
 *   only 0xff bytes that is "\0" again: every key at or after such a prefix starts with it.
 * - Any other end: `prefix + end`. Both bounds start with the prefix, so every key between
 *   them does too.
 *
 * Go's clientv3/namespace keeps the prefix's length when it carries ("a\xff" ends at
 * "b\x00"), which lets the key "b", outside the namespace, into the range; dropping the
 * carried bytes ends at "b" and keeps it out. Keys themselves are laid out identically.
 */
export function prefixInterval(prefix: Uint8Array, key: Uint8Array, end?: Uint8Array): KeyInterval {
  let rangeEnd: Uint8Array;
  if (end === undefined || end.length === 0) rangeEnd = new Uint8Array(0);
  else if (isFromKeyEnd(end)) rangeEnd = prefixEnd(prefix);
  else rangeEnd = prefixKey(prefix, end);
  return { key: prefixKey(prefix, key), rangeEnd };
}

/**
 * `key` without `prefix`, or undefined when the key does not start with it. Responses only
 * hold such keys if something below the namespace misbehaves; callers drop them rather than
 * hand one tenant another tenant's key.
 */
export function stripPrefix(prefix: Uint8Array, key: Uint8Array): Uint8Array | undefined {
  if (key.length < prefix.length) return undefined;
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return undefined;
  return key.slice(prefix.length);
}

/**
 * The prefixed interval of a key and range selector as the KV and watch methods take them.
 * The selector is resolved first (by the client's own rules), so an empty key without one is
 * refused here: prefixed, it would silently name the prefix itself.
 */
export function prefixSelection(prefix: Uint8Array, key: Bytes, selector?: RangeSelector): KeyInterval {
  const range = keyRange(keyBytes(key), selector);
  return prefixInterval(prefix, range.key, range.rangeEnd);
}

/**
 * The caller's options for the layer below: the selector replaced by the already prefixed
 * range end, everything else (limits, revisions, filters, signal) kept.
 */
export function withRangeEnd<T extends RangeSelector>(
  options: T | undefined,
  rangeEnd: Uint8Array,
): Omit<T, keyof RangeSelector> & RangeSelector {
  const { prefix: _prefix, fromKey: _fromKey, rangeEnd: _rangeEnd, ...rest } = options ?? ({} as T);
  return rangeEnd.length === 0 ? rest : { ...rest, rangeEnd };
}
