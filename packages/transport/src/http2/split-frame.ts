import { frameHeaderBytes } from "./frame.js";

/**
 * One frame whose bytes arrive over several socket reads. Its header gathers in a buffer of 9
 * bytes and, once the header tells its size, the frame in a buffer of exactly that size, so each
 * byte is copied once. The read that completes a frame gives up only the bytes the frame lacks:
 * the rest of that read is parsed where it lies. (Joining the carried bytes with the whole next
 * read copied nearly every byte of a large transfer a second time, since most reads end inside
 * a frame; and a peer sending a frame a byte per read made that join quadratic.)
 */
export class SplitFrame {
  private bytes: Buffer = Buffer.allocUnsafe(frameHeaderBytes);
  private filled = 0;

  /** The payload length the header declares; 0 until the header is complete. */
  get declaredPayload(): number {
    if (this.filled < frameHeaderBytes) return 0;
    const b = this.bytes;
    return (b[0] as number) * 65_536 + (b[1] as number) * 256 + (b[2] as number);
  }

  /** Whether every byte of the frame has arrived. */
  get complete(): boolean {
    return this.filled >= frameHeaderBytes && this.filled === frameHeaderBytes + this.declaredPayload;
  }

  /** The whole frame, header first; only once {@link complete}. */
  get frame(): Buffer {
    return this.bytes;
  }

  /**
   * Copies what the frame lacks from `chunk`, starting at `off`. Returns the offset after the
   * bytes taken, or -1 when the header declares a payload over `maxPayload`: nothing is kept for
   * such a frame.
   */
  take(chunk: Uint8Array, off: number, maxPayload: number): number {
    let at = off;
    if (this.filled < frameHeaderBytes) {
      at = this.copy(chunk, at, frameHeaderBytes);
      if (this.filled < frameHeaderBytes) return at;
      const payload = this.declaredPayload;
      if (payload > maxPayload) return -1;
      if (payload > 0) {
        const whole = Buffer.allocUnsafe(frameHeaderBytes + payload);
        whole.set(this.bytes);
        this.bytes = whole;
      }
    }
    return this.copy(chunk, at, this.bytes.length);
  }

  private copy(chunk: Uint8Array, off: number, upTo: number): number {
    const n = Math.min(upTo - this.filled, chunk.length - off);
    this.bytes.set(chunk.subarray(off, off + n), this.filled);
    this.filled += n;
    return off + n;
  }
}
