import type { OnReadOpts } from "node:net";

/** Bytes per slab that socket reads land in. */
const slabBytes = 64 << 10;
/** Room a read is offered at least; a slab with less left is replaced. */
const minReadRoom = 16 << 10;

/**
 * Where a connection's socket reads land: consecutive regions of one 64 KiB slab, handed to
 * Node through the `onread` option of `net.connect` and `tls.connect` (a buffer function,
 * asked for the next region after every read).
 *
 * Why: with `'data'` events each read allocates a 64 KiB buffer, shrinks it to the bytes read
 * and goes through a Readable stream's push and emit. Measured on this project's machine kind,
 * 54-71 µs of CPU per 40-byte read with `'data'` against 38-40 µs here (34-37 µs with one reused
 * buffer), the same gap over TLS; a unary call at one caller is a read of its own.
 *
 * A region is never written twice: the next read gets the room after it, and a full slab is
 * replaced, never reused. So a view into a read stays valid for as long as it is held (a partial
 * frame, a header block fragment, a unary answer waiting for its trailers), exactly as a `'data'`
 * chunk does; what a view held for long pins is its 64 KiB slab, which is why messages kept past
 * a read are copied, or decoded when their decoded form holds no view of them (see
 * `StreamCall.onMessage`, `decodeAnswer`). Messages of 256 KiB or more are the exception: they
 * are decoded from views of the reads they arrived in (`EnvelopeReader`), which fill the slabs
 * they pin, and copying them cost more than anything else about them.
 */
export class ReadSlab {
  /** The `onread` option for `net.connect` or `tls.connect`. */
  readonly onread: OnReadOpts;
  private slab: Buffer | undefined = undefined;
  private used = 0;
  private sink: (chunk: Buffer) => void = ignore;

  constructor() {
    this.onread = {
      buffer: () => this.room(),
      callback: (bytes, into) => {
        this.used += bytes;
        this.sink((into as Buffer).subarray(0, bytes));
        // Not false: reading goes on (flow-control windows bound what a peer may send).
        return true;
      },
    };
  }

  /** Sends every read to `sink`, which the session sets before the socket can deliver one. */
  deliverTo(sink: (chunk: Buffer) => void): void {
    this.sink = sink;
  }

  // The region the next read lands in: the rest of the slab, or a fresh slab.
  private room(): Buffer {
    if (this.slab === undefined || slabBytes - this.used < minReadRoom) {
      this.slab = Buffer.allocUnsafeSlow(slabBytes);
      this.used = 0;
    }
    return this.slab.subarray(this.used);
  }
}

/**
 * True where socket reads go through a {@link ReadSlab}: Node, whose `onread` buffer function
 * this relies on. Bun and Deno read through `'data'` events, which need no such contract.
 */
export const readsIntoSlabs = process.versions.bun === undefined && process.versions.deno === undefined;

function ignore(): void {}
