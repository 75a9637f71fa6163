import type { Socket } from "node:net";
import { encodeFrame } from "./frame.js";
import { maxQueuedControlFrames } from "./limits.js";

/**
 * The write side of an HTTP/2 session: frames queued in one tick go out in one socket write,
 * after the tick's microtasks. It respects the socket's backpressure (nothing is written between
 * a refused write and 'drain'), and counts the frames that answer the peer (ACKs, RST_STREAM for
 * its errors) so that a peer provoking answers it never reads fills a bounded queue.
 */
export class Http2FrameWriter {
  private readonly socket: Socket;
  private out: Buffer[] = [];
  private outBytes = 0;
  private scheduled = false;
  private blocked = false;
  // Answers queued since the socket last took our writes.
  private answers = 0;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on("drain", this.onDrain);
  }

  /** True while the socket refuses writes: the peer is not reading. */
  get writeBlocked(): boolean {
    return this.blocked;
  }

  /** Queues raw bytes (the connection preface). */
  queue(buf: Buffer): void {
    this.out.push(buf);
    this.outBytes += buf.length;
    if (!this.scheduled && !this.blocked) {
      this.scheduled = true;
      process.nextTick(this.flush);
    }
  }

  frame(type: number, flags: number, id: number, payload: Uint8Array | undefined): void {
    this.queue(encodeFrame(type, flags, id, payload));
  }

  /**
   * Queues a frame that answers the peer. False, and nothing queued, once more than
   * {@link maxQueuedControlFrames} wait: the caller closes the connection (nghttp2 does the same).
   */
  answer(type: number, flags: number, id: number, payload: Uint8Array | undefined): boolean {
    if (++this.answers > maxQueuedControlFrames) return false;
    this.frame(type, flags, id, payload);
    return true;
  }

  /** Writes what is queued now, unless the socket refuses writes. */
  readonly flush = (): void => {
    this.scheduled = false;
    const out = this.out;
    if (out.length === 0 || this.blocked || this.socket.destroyed) return;
    this.out = [];
    const bytes = this.outBytes;
    this.outBytes = 0;
    if (this.socket.write(out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out, bytes)))
      this.answers = 0;
    else this.blocked = true;
  };

  /** Drops what is queued (the connection is being torn down). */
  discard(): void {
    this.out = [];
    this.outBytes = 0;
  }

  private readonly onDrain = (): void => {
    this.blocked = false;
    this.answers = 0;
    this.flush();
  };
}
