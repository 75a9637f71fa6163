/**
 * A key's bytes as a string of one char per byte (latin1), the identity a `Map` can hold: keys
 * are arbitrary bytes, not always UTF-8, and two byte arrays with equal content are distinct
 * objects. V8 keeps such a string in one byte per char, so the map's key costs the key's length
 * plus a string header (16 bytes), not a typed array (about 100 bytes before its contents).
 *
 * The bytes are read in place, not copied: `Buffer` here is a view over the same memory.
 */
export function binaryKey(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("latin1");
}

/**
 * The bytes of a {@link binaryKey}, in an array of their own: not a slice of Node's shared
 * pool, which would keep 8 KiB alive for as long as the caller keeps one key.
 */
export function keyBytes(binary: string): Uint8Array {
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
