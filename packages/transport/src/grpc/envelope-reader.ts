import { Code, ConnectError } from "@connectrpc/connect";

import { envelopeHeaderBytes } from "./envelope.js";
import { MessageSizeError } from "./message-size-error.js";

// A message assembled from several DATA frames gathers in segments of this size, allocated as its
// bytes arrive, and is copied once into a buffer of exactly its length when its last byte has:
// memory follows what the peer actually sent, not the length it declared (a peer may declare
// 2 GiB and send nothing), and each byte is copied twice at most. Doubling one buffer instead
// (64 KiB, 128 KiB, ... up to the length) copied as much but allocated up to three times the
// message in fresh memory, and on this project's VMs the first write to a fresh page is what a
// large message costs: a watch catching up 256,000 events (two messages of 38 MB) spent more of
// its CPU in page faults than in decoding. Segments this small come from the allocator's reused
// memory.
const segmentBytes = 64 << 10;

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
  // The segment being filled (the whole message when it fits in one) and the full ones before it.
  private body: Uint8Array | undefined = undefined;
  private bodyFilled = 0;
  private readonly segments: Uint8Array[] = [];
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
        this.body = new Uint8Array(Math.min(this.length, segmentBytes));
        this.bodyFilled = 0;
        this.filled = 0;
        continue;
      }
      if (this.bodyFilled === this.body.length) {
        this.segments.push(this.body);
        this.body = new Uint8Array(Math.min(this.length - this.filled, segmentBytes));
        this.bodyFilled = 0;
      }
      const n = Math.min(this.body.length - this.bodyFilled, end - off);
      this.body.set(chunk.subarray(off, off + n), this.bodyFilled);
      this.bodyFilled += n;
      this.filled += n;
      off += n;
      if (this.filled === this.length) sink.onMessage(this.assembled(), true);
    }
    return undefined;
  }

  // The complete message, in one buffer of its own; the reader is ready for the next one.
  private assembled(): Uint8Array {
    const last = this.body as Uint8Array;
    this.body = undefined;
    if (this.segments.length === 0) return last;
    const message = new Uint8Array(this.length);
    let at = 0;
    for (const segment of this.segments) {
      message.set(segment, at);
      at += segment.length;
    }
    message.set(last, at);
    this.segments.length = 0;
    return message;
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
}
