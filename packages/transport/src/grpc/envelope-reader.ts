import { Code, ConnectError } from "@connectrpc/connect";

import { envelopeHeaderBytes } from "./envelope.js";
import { MessageSizeError } from "./message-size-error.js";

// A message assembled from several DATA frames starts in a buffer of at most this size and
// doubles as bytes arrive: memory follows what the peer actually sent, not the length it
// declared (a peer may declare 2 GiB and send nothing), and each byte is copied a bounded
// number of times, so reassembly is linear in the message size.
const firstCapacity = 64 << 10;

/** Where an {@link EnvelopeReader} delivers messages (an object, so a call needs no closure). */
export interface EnvelopeSink {
  /**
   * A complete message: `owned` is false when it is a view into the chunk being read (it arrived
   * in one piece), true for a buffer of its own.
   */
  onMessage(message: Uint8Array, owned: boolean): void;
}

/**
 * Cuts gRPC length-prefixed messages out of DATA payloads as they arrive. A declared length over
 * `maxBytes` or a compressed message is refused as soon as its 5-byte header is read, before
 * any of its body is kept.
 */
export class EnvelopeReader {
  private readonly maxBytes: number;
  // Only for a header split across DATA frames; most calls never need it.
  private header: Uint8Array | undefined = undefined;
  private headerFilled = 0;
  private length = 0;
  private body: Uint8Array | undefined = undefined;
  private filled = 0;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /** Bytes of a message received but not complete yet (its header included). */
  get pending(): number {
    return this.body === undefined ? this.headerFilled : envelopeHeaderBytes + this.filled;
  }

  /**
   * Reads bytes `start` to `end` of `chunk` (all of it by default), handing every message they
   * complete to `sink`. Returns the error that ends the call if they break a rule; nothing after
   * it is read.
   */
  push(chunk: Uint8Array, sink: EnvelopeSink, start = 0, end = chunk.length): ConnectError | undefined {
    let off = start;
    while (off < end) {
      if (this.body === undefined) {
        if (this.headerFilled === 0 && end - off >= envelopeHeaderBytes) {
          const error = this.begin(chunk, off);
          if (error !== undefined) return error;
          off += envelopeHeaderBytes;
          // The common case: the whole message is in this chunk, so no copy here.
          if (end - off >= this.length) {
            sink.onMessage(chunk.subarray(off, off + this.length), false);
            off += this.length;
            continue;
          }
        } else {
          const n = Math.min(envelopeHeaderBytes - this.headerFilled, end - off);
          this.header ??= new Uint8Array(envelopeHeaderBytes);
          this.header.set(chunk.subarray(off, off + n), this.headerFilled);
          this.headerFilled += n;
          off += n;
          if (this.headerFilled < envelopeHeaderBytes) return undefined;
          const error = this.begin(this.header, 0);
          if (error !== undefined) return error;
        }
        this.headerFilled = 0;
        if (this.length === 0) {
          sink.onMessage(new Uint8Array(0), true);
          continue;
        }
        this.body = new Uint8Array(Math.min(this.length, firstCapacity));
        this.filled = 0;
        continue;
      }
      const n = Math.min(this.length - this.filled, end - off);
      if (this.filled + n > this.body.length) this.grow(this.filled + n);
      this.body.set(chunk.subarray(off, off + n), this.filled);
      this.filled += n;
      off += n;
      if (this.filled === this.length) {
        const message = this.body;
        this.body = undefined;
        sink.onMessage(message, true);
      }
    }
    return undefined;
  }

  private begin(bytes: Uint8Array, at: number): ConnectError | undefined {
    const flags = bytes[at] as number;
    const declared =
      (bytes[at + 1] as number) * 2 ** 24 +
      ((bytes[at + 2] as number) << 16) +
      ((bytes[at + 3] as number) << 8) +
      (bytes[at + 4] as number);
    if (flags & 1) return new ConnectError("protocol error: compressed message not accepted", Code.Internal);
    if (declared > this.maxBytes) {
      return new MessageSizeError("read", declared, this.maxBytes);
    }
    this.length = declared;
    return undefined;
  }

  private grow(needed: number): void {
    const body = this.body as Uint8Array;
    const grown = new Uint8Array(Math.min(this.length, Math.max(needed, body.length * 2)));
    grown.set(body.subarray(0, this.filled));
    this.body = grown;
  }
}
