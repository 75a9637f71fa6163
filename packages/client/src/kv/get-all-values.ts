import type { Bytes } from "../bytes.js";
import { bytesToJson, bytesToText } from "../bytes.js";
import { invalidArgument } from "../errors.js";
import { type GetAllOptions, getAll, type KV } from "./kv.js";

/** Options of {@link getAllText} and {@link getAllJson}: those of {@link getAll} but `keysOnly`. */
export type GetAllValuesOptions = Omit<GetAllOptions, "keysOnly">;

// Keys become Map keys: two byte strings must never decode to one string, as a lenient decoder's
// U+FFFD replacements would make them.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Every key under a prefix (or in `rangeEnd`'s range) with its value as UTF-8 text, read page by
 * page at one revision as {@link getAll} does, in key order. Keys must be UTF-8 text.
 * @throws EtcdError `invalid_argument` for a key that is not UTF-8 (read those with `getAll`).
 *
 * @example
 * const config = await getAllText(client, "config/"); // Map { "config/a" => "1", ... }
 */
export function getAllText(
  kv: KV,
  prefix: Bytes,
  options?: GetAllValuesOptions,
): Promise<Map<string, string>> {
  return collect(kv, prefix, options, (value) => bytesToText(value));
}

/**
 * Every key under a prefix (or in `rangeEnd`'s range) with its value parsed as JSON, read page by
 * page at one revision as {@link getAll} does, in key order. Keys must be UTF-8 text.
 * @throws EtcdError `invalid_argument` for a key that is not UTF-8; `SyntaxError` (naming the
 *   key) for a value that is not JSON, as `getJson` does.
 *
 * @example
 * const workers = await getAllJson<{ host: string }>(client, "workers/");
 */
export function getAllJson<T = unknown>(
  kv: KV,
  prefix: Bytes,
  options?: GetAllValuesOptions,
): Promise<Map<string, T>> {
  return collect(kv, prefix, options, (value, key) => {
    try {
      return bytesToJson<T>(value);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      // The key is stored data: shown cut to length, as the error for a binary key is.
      const shown = key.length > 64 ? `${JSON.stringify(key.slice(0, 64))}...` : JSON.stringify(key);
      throw new SyntaxError(`the value of ${shown} is not JSON: ${why}`, { cause: error });
    }
  });
}

async function collect<T>(
  kv: KV,
  prefix: Bytes,
  options: GetAllValuesOptions | undefined,
  decode: (value: Uint8Array, key: string) => T,
): Promise<Map<string, T>> {
  const out = new Map<string, T>();
  for await (const page of getAll(kv, prefix, { ...options, keysOnly: false })) {
    for (const item of page.kvs) {
      let key: string;
      try {
        key = strictUtf8.decode(item.key);
      } catch {
        const shown = Buffer.from(item.key.subarray(0, 64)).toString("hex");
        throw invalidArgument(
          `key 0x${shown}${item.key.length > 64 ? "..." : ""} is not UTF-8 text; read binary keys with getAll`,
        );
      }
      out.set(key, decode(item.value, key));
    }
  }
  return out;
}
