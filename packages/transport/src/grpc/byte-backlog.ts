// A stream's DATA kept for a reader that fell behind, before it is cut into messages.

const empty = new Uint8Array(0);

/** The smallest buffer a backlog allocates: one DATA frame at the default frame size. */
const minCapacity = 16 << 10;
/** Up to this many bytes, an append copies byte by byte rather than through a view. */
const copyLoopMax = 64;

/**
 * Bytes kept in arrival order and taken from the front, in one buffer rather than an object per
 * piece appended: a peer may send DATA frames of a single byte. The bytes {@link take} hands out
 * are never written again, so views into them stay valid: appends only write past them, and
 * growing copies what has not been taken into a new buffer. Each byte is copied once on append
 * and, amortized, at most once more when the buffer grows.
 */
export class ByteBacklog {
  private buf: Uint8Array = empty;
  private start = 0;
  private end = 0;

  /** Bytes kept and not yet taken. */
  get size(): number {
    return this.end - this.start;
  }

  /**
   * Keeps a copy of bytes `start` to `end` of `bytes` (all of them by default), which may be in a
   * buffer that is about to be reused.
   */
  append(bytes: Uint8Array, start = 0, end = bytes.length): void {
    const n = end - start;
    if (this.end + n > this.buf.length) {
      const size = this.end - this.start;
      const grown = new Uint8Array(Math.max(size + n, 2 * size, minCapacity));
      grown.set(this.buf.subarray(this.start, this.end));
      this.buf = grown;
      this.start = 0;
      this.end = size;
    }
    const buf = this.buf;
    if (n <= copyLoopMax) {
      // A small range (a keepalive answer is some 30 bytes) is copied in a loop: `set` needs a
      // view of it, an object for each DATA frame.
      let at = this.end;
      for (let i = start; i < end; i++) buf[at++] = bytes[i] as number;
    } else {
      buf.set(start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end), this.end);
    }
    this.end += n;
  }

  /** Up to `max` bytes from the front, as a view that stays valid whatever is appended later. */
  take(max: number): Uint8Array {
    const n = Math.min(max, this.end - this.start);
    const out = this.buf.subarray(this.start, this.start + n);
    this.start += n;
    // Emptied: the buffer is let go (views may hold it), never written from its start again.
    if (this.start === this.end) this.clear();
    return out;
  }

  /** Drops what is kept. */
  clear(): void {
    this.buf = empty;
    this.start = 0;
    this.end = 0;
  }
}
