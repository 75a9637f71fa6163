import { type Bytes, toBytes } from "./bytes.js";
import { invalidArgument } from "./errors.js";

/** The range end that selects every key at or after a key (etcd's "\0"); a fresh copy each call. */
export function fromKeyEnd(): Uint8Array {
  return new Uint8Array([0]);
}

/**
 * The smallest key greater than every key that starts with `prefix`: the prefix with its
 * last byte below 0xff incremented and the rest dropped. A prefix of only 0xff bytes
 * (or an empty one) has no such key, so the range runs to the end of the keyspace ("\0").
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const byte = prefix[i] as number;
    if (byte < 0xff) {
      const end = prefix.slice(0, i + 1);
      end[i] = byte + 1;
      return end;
    }
  }
  return fromKeyEnd();
}

/** How a key selects a range: one of these at most; none means the single key. */
export interface RangeSelector {
  /** Select every key that starts with the key. */
  prefix?: boolean;
  /** Select keys in [key, rangeEnd). */
  rangeEnd?: Bytes;
  /** Select every key at or after the key. */
  fromKey?: boolean;
}

// One empty range end for every single-key request: it has no bytes to change, and 10,000
// watchers (or requests in flight) need not hold 10,000 empty arrays.
const noRangeEnd = new Uint8Array(0);

/**
 * Resolves a key and selector into etcd's (key, range_end) pair.
 * An empty key is rejected unless a prefix or from-key range makes it mean "all keys".
 */
export function keyRange(
  key: Bytes,
  selector: RangeSelector = {},
): { key: Uint8Array; rangeEnd: Uint8Array } {
  const k = toBytes(key);
  const chosen =
    (selector.prefix ? 1 : 0) + (selector.fromKey ? 1 : 0) + (selector.rangeEnd !== undefined ? 1 : 0);
  if (chosen > 1) throw invalidArgument("use only one of prefix, rangeEnd and fromKey");
  if (selector.prefix) {
    // An empty prefix means every key, as in Go's WithPrefix.
    return k.length === 0
      ? { key: fromKeyEnd(), rangeEnd: fromKeyEnd() }
      : { key: k, rangeEnd: prefixEnd(k) };
  }
  if (selector.fromKey) {
    return { key: k.length === 0 ? fromKeyEnd() : k, rangeEnd: fromKeyEnd() };
  }
  if (k.length === 0) throw invalidArgument("key must not be empty");
  return {
    key: k,
    rangeEnd: selector.rangeEnd === undefined ? noRangeEnd : toBytes(selector.rangeEnd),
  };
}

/**
 * True when [key, rangeEnd) holds no key: a range end at or below the key (bytewise), other than
 * the empty one (the key alone) and "\0" (every key from it). etcd refuses a watch on one.
 */
export function isEmptyRange(key: Uint8Array, rangeEnd: Uint8Array): boolean {
  if (rangeEnd.length === 0 || (rangeEnd.length === 1 && rangeEnd[0] === 0)) return false;
  const n = Math.min(key.length, rangeEnd.length);
  for (let i = 0; i < n; i++) {
    const a = key[i] as number;
    const b = rangeEnd[i] as number;
    if (a !== b) return b < a;
  }
  return rangeEnd.length <= key.length;
}
