import type { Bytes } from "../bytes.js";
import { invalidArgument } from "../errors.js";
import type { Mirror, MirrorOptions, MirrorSource } from "./mirror.js";
import { type MirrorConfig, MirrorImpl } from "./mirror-impl.js";

/** Keys per page of a list when {@link MirrorOptions.pageSize} is not given (Go's mirror uses 1000). */
export const defaultMirrorPageSize = 1000;
/** Unread changes per reader before they are coalesced, when {@link MirrorOptions.maxPendingChanges} is not given. */
export const defaultMaxPendingChanges = 10_000;

// The default decode: a received value is a view into its whole response message (or, for an
// answer of 256 KiB or more, into the socket read it arrived in); a copy lets that go.
const copyBytes = (value: Uint8Array): Uint8Array => value.slice();

/**
 * Mirrors the keys under `prefix` (every key for `""`) in memory: see {@link Mirror}. Reading
 * starts at once; `await mirror.ready` waits for the first list. Close it with `close()`,
 * `await using` or the `signal`. Bad options throw an `EtcdError` (reason `invalid_argument`)
 * before anything is sent.
 *
 * @example
 * await using mirror = createMirror(client, "services/", { decode: bytesToText });
 * await mirror.ready;
 * for (const { key, value } of mirror.entries()) console.log(bytesToText(key), value);
 */
export function createMirror(
  source: MirrorSource,
  prefix: Bytes,
  options?: Omit<MirrorOptions, "decode">,
): Mirror<Uint8Array>;
export function createMirror<V>(
  source: MirrorSource,
  prefix: Bytes,
  options: MirrorOptions<V> & Pick<Required<MirrorOptions<V>>, "decode">,
): Mirror<V>;
export function createMirror<V = Uint8Array>(
  source: MirrorSource,
  prefix: Bytes,
  options: MirrorOptions<V> = {},
): Mirror<V> {
  return new MirrorImpl<V>(source, validateMirrorOptions(prefix, options));
}

/** Fills in the defaults of {@link MirrorOptions} and refuses bad values, naming the option. */
export function validateMirrorOptions<V>(prefix: Bytes, options: MirrorOptions<V>): MirrorConfig<V> {
  if (typeof prefix !== "string" && !(prefix instanceof Uint8Array)) {
    throw invalidArgument("prefix must be a string or Uint8Array");
  }
  const pageSize = options.pageSize ?? defaultMirrorPageSize;
  if (!Number.isSafeInteger(pageSize) || pageSize < 1) {
    throw invalidArgument(`pageSize must be an integer >= 1, got ${String(pageSize)}`);
  }
  const maxPendingChanges = options.maxPendingChanges ?? defaultMaxPendingChanges;
  if (!Number.isSafeInteger(maxPendingChanges) || maxPendingChanges < 1) {
    throw invalidArgument(`maxPendingChanges must be an integer >= 1, got ${String(maxPendingChanges)}`);
  }
  if (options.decode !== undefined && typeof options.decode !== "function") {
    throw invalidArgument("decode must be a function");
  }
  return {
    prefix,
    pageSize,
    maxPendingChanges,
    // Without a decode, V is Uint8Array: the overloads allow no other.
    decode: options.decode ?? (copyBytes as unknown as (value: Uint8Array, key: Uint8Array) => V),
    signal: options.signal,
  };
}
