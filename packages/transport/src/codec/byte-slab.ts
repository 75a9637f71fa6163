// Small byte arrays carved out of shared slabs, as Node's Buffer pool does.
//
// Each `new Uint8Array(n)` over 64 bytes gets a backing store of its own outside V8's heap: an
// allocation in C++, external memory the collector must track, and a free at the next GC. On the
// call path (a key, a value, an encoded request, its envelope) that was measured at about 3 µs per
// 256-byte array, more than encoding the whole request. A view into a slab is a small heap object.
// The price is Node's: a view that lives long keeps its whole slab alive, so only arrays up to
// `pooledMax` come from slabs, and slabs are small.

/** Bytes per slab. */
const slabBytes = 8 * 1024;
/** Larger arrays get a buffer of their own. */
const pooledMax = slabBytes >>> 1;
/** Below this many UTF-16 units, an ASCII text is copied in a loop, not through `encodeInto`. */
const asciiLoopMax = 64;

const encoder = new TextEncoder();
let slab = new ArrayBuffer(slabBytes);
let used = 0;

/** An array of `size` bytes for the caller to fill: its contents are not zeroed. */
export function allocBytes(size: number): Uint8Array {
  if (size > pooledMax) return new Uint8Array(size);
  makeRoom(size);
  return take(size);
}

/** A copy of `bytes`. */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  const out = allocBytes(bytes.length);
  out.set(bytes);
  return out;
}

/**
 * One array holding `parts` one after another. Over `pooledMax` bytes (a message's parts always
 * are) it is a buffer of its own, so views of it pin nothing else.
 */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = allocBytes(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** UTF-8 bytes of `text`, the same bytes `TextEncoder.encode` gives (a lone surrogate becomes U+FFFD). */
export function utf8Bytes(text: string): Uint8Array {
  const length = text.length;
  if (length <= asciiLoopMax) {
    const bytes = allocBytes(length);
    let i = 0;
    for (; i < length; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) break;
      bytes[i] = c;
    }
    if (i === length) return bytes;
  }
  // UTF-8 takes at most 3 bytes per UTF-16 unit: encoded into that much room, then cut to size.
  const room = length * 3;
  if (room > pooledMax) return encoder.encode(text);
  makeRoom(room);
  const { written } = encoder.encodeInto(text, new Uint8Array(slab, used, room));
  return take(written);
}

// A fresh slab when the current one has less than `size` bytes left.
function makeRoom(size: number): void {
  if (used + size <= slabBytes) return;
  slab = new ArrayBuffer(slabBytes);
  used = 0;
}

// The next `size` bytes of the slab; 8-byte steps keep every view aligned, as Node's pool does.
function take(size: number): Uint8Array {
  const bytes = new Uint8Array(slab, used, size);
  used = (used + size + 7) & ~7;
  return bytes;
}
