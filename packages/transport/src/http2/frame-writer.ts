import type { Socket } from "node:net";
import { frameHeaderBytes, writeFrameHeader } from "./frame.js";
import { maxQueuedControlFrames, maxQueuedWriteBytes } from "./limits.js";

/**
 * The write side of an HTTP/2 session: frames queued in one tick go out in one socket write,
 * after the tick's microtasks. It respects the socket's backpressure (nothing is written between
 * a refused write and 'drain'), and counts the frames that answer the peer (ACKs, RST_STREAM for
 * its errors) so that a peer provoking answers it never reads fills a bounded queue. What waits
 * for a refused socket is bounded too ({@link maxQueuedWriteBytes}): past it, everything queued
 * is dropped, nothing more is taken, and `onOverflow` runs on the next tick to close the session.
 */
export class Http2FrameWriter {
  private readonly socket: Socket;
  // The frames queued this tick, as parallel lists: a frame is copied once, into the tick's write.
  // A type of -1 marks raw bytes (the connection preface).
  private readonly types: number[] = [];
  private readonly flags: number[] = [];
  private readonly ids: number[] = [];
  private readonly payloads: Array<Uint8Array | undefined> = [];
  // Frames queued: the lists are overwritten, not emptied, so they keep their storage.
  private count = 0;
  private outBytes = 0;
  private scheduled = false;
  private blocked = false;
  // Answers queued since the socket last took our writes.
  private answers = 0;
  // More than maxQueuedWriteBytes waited for the socket: the session is being closed.
  private overflowed = false;
  private readonly onOverflow: () => void;

  constructor(socket: Socket, onOverflow: () => void) {
    this.socket = socket;
    this.onOverflow = onOverflow;
    socket.on("drain", this.onDrain);
  }

  /** True while the socket refuses writes: the peer is not reading. */
  get writeBlocked(): boolean {
    return this.blocked;
  }

  /** Queues raw bytes (the connection preface). */
  queue(buf: Uint8Array): void {
    this.push(-1, 0, 0, buf, buf.length);
  }

  /** Queues a frame. Its payload is copied at the flush, so it must not change before then. */
  frame(type: number, flags: number, id: number, payload: Uint8Array | undefined): void {
    this.push(type, flags, id, payload, frameHeaderBytes + (payload === undefined ? 0 : payload.length));
  }

  /**
   * Queues a frame that answers the peer. False, and nothing queued, once more than
   * {@link maxQueuedControlFrames} wait: the caller closes the connection (nghttp2 does the same).
   */
  answer(type: number, flags: number, id: number, payload: Uint8Array | undefined): boolean {
    if (++this.answers > maxQueuedControlFrames) return false;
    // Copied now: a PING's payload is a view into the socket read it came in, and a peer that
    // does not read could otherwise make every queued answer hold a whole read buffer.
    this.frame(type, flags, id, payload === undefined ? undefined : new Uint8Array(payload));
    return true;
  }

  /** Writes what is queued now, unless the socket refuses writes. */
  readonly flush = (): void => {
    this.scheduled = false;
    const count = this.count;
    if (count === 0 || this.blocked || this.socket.destroyed) return;
    const out = Buffer.allocUnsafe(this.outBytes);
    let pos = 0;
    for (let i = 0; i < count; i++) {
      const type = this.types[i] as number;
      const payload = this.payloads[i];
      if (type >= 0) {
        pos = writeFrameHeader(out, pos, type, this.flags[i] as number, this.ids[i] as number, payload);
      }
      if (payload !== undefined) {
        out.set(payload, pos);
        pos += payload.length;
      }
    }
    this.discard();
    if (this.socket.write(out)) this.answers = 0;
    else this.blocked = true;
  };

  /** Drops what is queued (the connection is being torn down). */
  discard(): void {
    // Payloads are let go of at once; the numbers are overwritten by the next frames.
    this.payloads.fill(undefined, 0, this.count);
    this.count = 0;
    this.outBytes = 0;
  }

  private push(
    type: number,
    flags: number,
    id: number,
    payload: Uint8Array | undefined,
    bytes: number,
  ): void {
    if (this.overflowed) return;
    if (this.blocked && this.outBytes + bytes > maxQueuedWriteBytes) {
      // Closed from the next tick, not from inside whatever queued this frame.
      this.overflowed = true;
      this.discard();
      process.nextTick(this.onOverflow);
      return;
    }
    const i = this.count++;
    this.types[i] = type;
    this.flags[i] = flags;
    this.ids[i] = id;
    this.payloads[i] = payload;
    this.outBytes += bytes;
    if (!this.scheduled && !this.blocked) {
      this.scheduled = true;
      process.nextTick(this.flush);
    }
  }

  private readonly onDrain = (): void => {
    this.blocked = false;
    this.answers = 0;
    this.flush();
  };
}
