import { Code, ConnectError } from "@connectrpc/connect";

import { concatBytes } from "../codec/byte-slab.js";
import { envelopeHeaderBytes } from "./envelope.js";
import { MessageSizeError } from "./message-size-error.js";

// A message spanning several DATA frames gathers as it arrives, so memory follows what the peer
// actually sent, not the length it declared (a peer may declare 2 GiB and send nothing).
//
// Bytes are gathered into segments of at most this size, allocated as they are needed (segments
// this small come from the allocator's reused memory), and a message under `viewsFrom` is then
// copied once into a buffer of exactly its length.
const segmentBytes = 64 << 10;
// A message of this length or more, for a sink that takes parts, is handed over as the pieces it
// arrived in, each a view into the read it came in (the reads are never written again), and is
// decoded from them in place: no byte of it is copied. Copying is what a large message cost: on
// this project's VMs the first write to a fresh page is dearer than the copy itself, and a watch
// catching up 256,000 events (two messages of 38 MB) wrote each byte three times (the read, a
// segment, the message), most of it to fresh pages. A view kept from such a message pins the
// read it lies in (64 KiB at most), not the whole message; under this length the views would
// pin reads many times the message's size, and the copy is cheap.
const viewsFrom = 256 << 10;
// Pieces shorter than this are gathered into segments even then: one view per DATA frame of a
// byte would cost a peer ten bytes for each hundred of ours.
const minViewBytes = 4 << 10;

/** Where an {@link EnvelopeReader} delivers messages (an object, so a call needs no closure). */
export interface EnvelopeSink {
  /**
   * A complete message: `owned` is false when it is a view into the chunk being read (it arrived
   * in one piece), true for a buffer of its own.
   */
  onMessage(message: Uint8Array, owned: boolean): void;
  /**
   * A complete message of at least 256 KiB as the parts it arrived in, in order: views into the
   * chunks pushed (which must never be written again) and segments of the reader's own. A sink
   * without this method gets such a message in one buffer of its own through `onMessage`.
   */
  onMessageParts?(parts: Uint8Array[]): void;
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
  // Whether a message's body is being gathered, and how many of its bytes have arrived.
  private receiving = false;
  private filled = 0;
  // Whether the message being gathered keeps views of the chunks (see `viewsFrom`).
  private keepViews = false;
  private views = 0;
  // The message's parts so far, and the segment being filled: its bytes from `segmentStart` to
  // `segmentEnd` are not among the parts yet.
  private readonly parts: Uint8Array[] = [];
  private segment: Uint8Array | undefined = undefined;
  private segmentStart = 0;
  private segmentEnd = 0;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /** Bytes of a message received but not complete yet (its header included). */
  get pending(): number {
    return this.receiving ? envelopeHeaderBytes + this.filled : this.headerFilled;
  }

  /**
   * Reads bytes `start` to `end` of `chunk` (all of it by default), handing every message they
   * complete to `sink`. Returns the error that ends the call if they break a rule; nothing after
   * it is read. The chunk must not be written again: messages may be views into it.
   */
  push(chunk: Uint8Array, sink: EnvelopeSink, start = 0, end = chunk.length): ConnectError | undefined {
    let off = start;
    while (off < end) {
      if (!this.receiving) {
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
        this.receiving = true;
        this.filled = 0;
        this.keepViews = this.length >= viewsFrom && sink.onMessageParts !== undefined;
        continue;
      }
      const n = Math.min(this.length - this.filled, end - off);
      if (this.keepViews && n >= minViewBytes) {
        this.closeSegmentPart();
        // A plain Uint8Array even when the chunk is a Buffer: bytes fields decoded from it are
        // views of it, and are Uint8Arrays wherever they come from (Buffer's slice and toString
        // differ). The constructor is also cheaper than Buffer's subarray.
        this.parts.push(new Uint8Array(chunk.buffer, chunk.byteOffset + off, n));
        this.views++;
      } else {
        this.gather(chunk, off, n);
      }
      this.filled += n;
      off += n;
      if (this.filled === this.length) this.complete(sink);
    }
    return undefined;
  }

  // Copies `n` bytes of `chunk` from `off` into segments.
  private gather(chunk: Uint8Array, off: number, n: number): void {
    let from = off;
    let left = n;
    while (left > 0) {
      if (this.segment === undefined || this.segmentEnd === this.segment.length) {
        this.closeSegmentPart();
        const unfilled = this.length - this.filled - (n - left);
        this.segment = new Uint8Array(Math.min(unfilled, segmentBytes));
        this.segmentStart = 0;
        this.segmentEnd = 0;
      }
      const take = Math.min(this.segment.length - this.segmentEnd, left);
      this.segment.set(chunk.subarray(from, from + take), this.segmentEnd);
      this.segmentEnd += take;
      from += take;
      left -= take;
    }
  }

  // What the segment gathered since its last part becomes a part; the segment goes on filling
  // after it (a part is never written again).
  private closeSegmentPart(): void {
    if (this.segment === undefined || this.segmentEnd === this.segmentStart) return;
    this.parts.push(this.segment.subarray(this.segmentStart, this.segmentEnd));
    this.segmentStart = this.segmentEnd;
  }

  // Hands the complete message over; the reader is ready for the next one.
  private complete(sink: EnvelopeSink): void {
    this.closeSegmentPart();
    const parts = this.parts.splice(0);
    const views = this.views;
    this.segment = undefined;
    this.receiving = false;
    this.views = 0;
    if (views > 0 && sink.onMessageParts !== undefined) {
      sink.onMessageParts(parts);
      return;
    }
    // Only segments: one is the message when it fits; more are copied into one buffer.
    if (parts.length === 1) {
      sink.onMessage(parts[0] as Uint8Array, true);
      return;
    }
    sink.onMessage(concatBytes(parts), true);
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
