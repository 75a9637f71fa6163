import { utf8Bytes } from "@etcd-connect/transport";

const decoder = new TextDecoder();

/** Keys and values are given as text (UTF-8) or bytes. */
export type Bytes = string | Uint8Array;

/**
 * UTF-8 encodes text; bytes pass through unchanged (not copied). Short texts are carved from a
 * shared slab (see `utf8Bytes`): `TextEncoder.encode` gives each its own buffer, which cost more
 * than the rest of building a put.
 */
export function toBytes(value: Bytes): Uint8Array {
  return typeof value === "string" ? utf8Bytes(value) : value;
}

/** Decodes UTF-8 bytes to text. */
export function bytesToText(value: Uint8Array): string {
  return decoder.decode(value);
}

/** Parses UTF-8 JSON bytes. */
export function bytesToJson<T = unknown>(value: Uint8Array): T {
  return JSON.parse(decoder.decode(value)) as T;
}
