import type { Socket } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeName, http2Code } from "./error-codes.js";
import {
  connectionPreface,
  frameFlag,
  frameHeaderBytes,
  frameType,
  maxStreamId,
  maxWindow,
  setting,
} from "./frame.js";
import { Http2FrameWriter } from "./frame-writer.js";
import { type HeaderBlockResult, Http2HeaderBlock } from "./header-block.js";
import { encodeHeaderBlock, HpackEncoder } from "./hpack-encoder.js";
import {
  connectionWindow,
  maxEmptyFramesInARow,
  maxFrameSize,
  maxHeaderListSize,
  maxQueuedControlFrames,
  maxQueuedWriteBytes,
  maxSettingsEntries,
  streamWindow,
} from "./limits.js";
import type { ReadSlab } from "./read-slab.js";
import { serverText } from "./server-text.js";
import { SplitFrame } from "./split-frame.js";
import { Http2Stream, type Http2StreamHandler, type Http2StreamOwner } from "./stream.js";
import { StreamTable } from "./stream-table.js";
import { unprocessedError } from "./unprocessed.js";
import { userAgent } from "./user-agent.js";

/** Header blocks and fixed-field prefixes kept per session (see `headerBlockFor`), each map; the longest field value kept. */
const maxKeptBlocks = 64;
const maxKeptFieldLength = 1024;

/**
 * Where a session is: `handshake` until the server's first SETTINGS frame; `open`; `draining`
 * once no new streams may start (GOAWAY, ours or the server's, or stream ids ran out) while
 * open ones finish; `closed` once the socket is gone and every stream heard its end.
 */
export type Http2SessionState = "handshake" | "open" | "draining" | "closed";

const sessionTransitions: Readonly<Record<Http2SessionState, readonly Http2SessionState[]>> = {
  handshake: ["open", "closed"],
  open: ["draining", "closed"],
  draining: ["closed"],
  closed: [],
};

/** A request header block the session keeps, with the encoder's generation it is valid for. */
interface KeptBlock {
  readonly generation: number;
  readonly block: Buffer;
}

/** One request stream to open; see {@link Http2Session.open}. */
export interface Http2Request {
  /** The `:path`, `/package.Service/Method`. */
  path: string;
  /** Header fields beyond the fixed gRPC request headers. */
  extra?: ReadonlyArray<readonly [string, string]> | undefined;
  /** A unary call: its connection watches it for silence (see `silenceProbeMs`). Default: false. */
  probe?: boolean;
  /**
   * The call may be sent again elsewhere without harm (a read): when the peer stops answering
   * PINGs, the connection fails it at once rather than at its deadline. Default: false.
   */
  retrySafe?: boolean;
  /** Written after the headers. */
  body?: Uint8Array | undefined;
  /** Ends our side after `body`. Default: false. */
  end?: boolean;
}

/** What a session tells its connection. */
export interface Http2SessionEvents {
  /** The server's first SETTINGS frame arrived: it speaks HTTP/2. */
  onReady(): void;
  /**
   * The session is gone; `error` is undefined for a close we asked for, and `closedIdle` is set
   * when the server closed the connection, without an error, while no stream was open.
   */
  onClose(error: ConnectError | undefined, closedIdle: boolean): void;
  /** GOAWAY: no new streams; open ones up to the server's last stream id finish. */
  onGoAway(code: number, debug: string): void;
  onStreamOpen(stream: Http2Stream): void;
  onStreamClose(stream: Http2Stream): void;
}

/**
 * The client side of one HTTP/2 connection, framed by hand on a socket (RFC 9113), for gRPC
 * calls only: no server push, no priorities. Request fields that repeat go into the peer's HPACK
 * table once (see {@link HpackEncoder}).
 *
 * Why not node:http2: measured on this project's machine kind, a node:http2 client stream costs
 * ~43 µs of CPU per call before any gRPC work (a Duplex stream, an AsyncResource, header
 * mapping and several listeners per request), while this framing costs under 10 µs, and
 * writes every frame of a tick in one socket write. See bench/README.md.
 */
export class Http2Session implements Http2StreamOwner {
  /** Date.now() of the last read from the socket: proof that the peer is alive. */
  lastReadAt = Date.now();
  /**
   * HEADERS and DATA frames read so far. A gRPC server clears its ping strikes whenever it
   * writes one (see `ping-budget.ts`), so this tells which of our pings it counts as free.
   */
  serverWrites = 0;
  private current: Http2SessionState = "handshake";
  private readonly socket: Socket;
  private readonly events: Http2SessionEvents;
  private readonly headerBlock = new Http2HeaderBlock();
  private readonly streams = new StreamTable();
  private readonly waiting: Http2Stream[] = [];
  private readonly blocked = new Set<Http2Stream>();
  private readonly encoder = new HpackEncoder();
  private readonly prefixes = new Map<string, KeptBlock>();
  private readonly blocks = new Map<string, KeptBlock>();
  // Our PINGs waiting for their ACK; the connection cancels one that timed out.
  private readonly pings = new Map<number, () => void>();
  private readonly authority: string;
  private readonly scheme: string;
  private nextId = 1;
  private nextPing = 0;
  private sendWindow = 65_535;
  private peerInitialWindow = 65_535;
  private peerMaxFrame = 16_384;
  private peerMaxStreams = Number.POSITIVE_INFINITY;
  private connUnacked = 0;
  // Frames in a row that carried nothing for a stream (see maxEmptyFramesInARow).
  private emptyFrames = 0;
  private recvWindow = connectionWindow;
  // A frame that the last socket read ended inside of (other than DATA, see `dataLeft`).
  private split: SplitFrame | undefined = undefined;
  // A DATA frame that the last socket read ended inside of: its payload is handed on as it
  // arrives, so the bytes still to come, the stream's id and whether the frame ends the stream.
  private dataLeft = 0;
  private dataId = 0;
  private dataEndsStream = false;
  private readonly writer: Http2FrameWriter;

  /**
   * `reads`: the {@link ReadSlab} the socket was opened with (its `onread` option); without one,
   * the session reads through `'data'` events.
   */
  constructor(
    socket: Socket,
    authority: string,
    scheme: "http" | "https",
    events: Http2SessionEvents,
    reads?: ReadSlab,
  ) {
    this.socket = socket;
    this.authority = authority;
    this.scheme = scheme;
    this.events = events;
    this.writer = new Http2FrameWriter(socket, () =>
      this.destroy(
        new ConnectError(
          `${this.authority} stopped reading: over ${maxQueuedWriteBytes >> 20} MiB of frames wait to be written`,
          Code.Unavailable,
        ),
      ),
    );
    socket.setNoDelay(true);
    if (reads === undefined) socket.on("data", (chunk: Buffer) => this.read(chunk));
    else reads.deliverTo((chunk) => this.read(chunk));
    // Kept for the socket's whole life: an 'error' without a listener would crash Node.
    socket.on("error", (error) => this.destroy(socketError(this.authority, error)));
    socket.on("close", () =>
      this.destroy(new ConnectError(`connection to ${this.authority} closed`, Code.Unavailable), true),
    );
    const settings = Buffer.alloc(24);
    settings.writeUInt16BE(setting.enablePush, 0);
    settings.writeUInt32BE(0, 2);
    settings.writeUInt16BE(setting.initialWindowSize, 6);
    settings.writeUInt32BE(streamWindow, 8);
    settings.writeUInt16BE(setting.maxFrameSize, 12);
    settings.writeUInt32BE(maxFrameSize, 14);
    settings.writeUInt16BE(setting.maxHeaderListSize, 18);
    settings.writeUInt32BE(maxHeaderListSize, 20);
    this.writer.queue(connectionPreface);
    this.writeFrame(frameType.settings, 0, 0, settings);
    this.writeWindowUpdate(0, connectionWindow - 65_535);
  }

  /** Lets the process exit while the session is idle (see net.Socket.unref). */
  unref(): void {
    this.socket.unref();
  }

  /** Holds the process open while streams run. */
  ref(): void {
    this.socket.ref();
  }

  /** Open streams, those waiting for a slot included. */
  get streamCount(): number {
    return this.streams.size + this.waiting.length;
  }

  /** Where the session is; see {@link Http2SessionState}. */
  get state(): Http2SessionState {
    return this.current;
  }

  /** True while new streams may be opened. */
  get usable(): boolean {
    return this.current === "open";
  }

  /** True once no new streams may be opened: GOAWAY (ours or the server's), ids ran out, or closed. */
  get goingAway(): boolean {
    return this.current === "draining" || this.current === "closed";
  }

  /** True once the socket is closed and every stream has heard its end. */
  get destroyed(): boolean {
    return this.current === "closed";
  }

  // Every state change goes through here; a change the table does not allow is ignored.
  private moveTo(next: Http2SessionState): boolean {
    if (!sessionTransitions[this.current].includes(next)) return false;
    this.current = next;
    return true;
  }

  /**
   * Opens a gRPC stream (POST `request.path`) with the fixed gRPC request headers plus
   * `request.extra`, and writes `request.body` after the headers, ending our side when
   * `request.end` is set.
   */
  open(request: Http2Request, handler: Http2StreamHandler): Http2Stream {
    const stream = new Http2Stream(this, handler, request.probe === true, request.retrySafe === true);
    stream.pendingPath = request.path;
    stream.pendingExtra = request.extra;
    if (request.body !== undefined) {
      stream.queued = [request.body];
    }
    stream.queuedEnd = request.end === true;
    this.events.onStreamOpen(stream);
    if (this.goingAway || this.destroyed) {
      // Went away between the caller's check and now (GOAWAY read in the same tick): nothing sent.
      this.finish(stream, unprocessedError(`connection to ${this.authority} is going away`));
    } else if (this.streams.size >= this.peerMaxStreams) this.waiting.push(stream);
    else this.start(stream);
    return stream;
  }

  // A request's header block, encoded as its HEADERS frame goes out: the encoder's table must see
  // blocks in the order the peer does. The fixed gRPC fields go through the table (see `prefix`);
  // `extra` fields follow as literals. Extra fields that repeat call after call (etcd's
  // `hasleader`, an auth token) make the same block each time, so whole blocks are kept by path
  // and fields, a bounded number of them, while the table stays as it was; a deadline's
  // `grpc-timeout` differs per call, so a block with one is not kept.
  private headerBlockFor(path: string, extra: ReadonlyArray<readonly [string, string]> | undefined): Buffer {
    const generation = this.encoder.generation;
    const prefix = this.prefix(path);
    if (extra === undefined || extra.length === 0) return prefix;
    let key: string | undefined = path;
    for (let i = 0; i < extra.length; i++) {
      const [name, value] = extra[i] as readonly [string, string];
      if (name === "grpc-timeout" || value.length > maxKeptFieldLength) {
        key = undefined;
        break;
      }
      key += `\n${name}\n${value}`;
    }
    const kept = key === undefined ? undefined : this.blocks.get(key);
    if (kept !== undefined && kept.generation === generation) return kept.block;
    const more = encodeHeaderBlock(extra);
    const block = Buffer.concat([prefix, more], prefix.length + more.length);
    // Kept under the generation the prefix was encoded against: a prefix that changed the table
    // moved the generation on, so its block is never sent twice.
    if (key !== undefined) {
      if (this.blocks.size >= maxKeptBlocks) this.blocks.clear();
      this.blocks.set(key, { generation, block });
    }
    return block;
  }

  // The fixed fields of a request's header block, through the encoder's table: after a path's
  // first call, seven one-octet indices, kept per path while the table stays as it was.
  private prefix(path: string): Buffer {
    const generation = this.encoder.generation;
    const kept = this.prefixes.get(path);
    if (kept !== undefined && kept.generation === generation) return kept.block;
    const block = this.encoder.encode([
      [":method", "POST"],
      [":scheme", this.scheme],
      [":path", path],
      [":authority", this.authority],
      ["content-type", "application/grpc+proto"],
      ["te", "trailers"],
      ["user-agent", userAgent],
    ]);
    if (this.encoder.generation === generation) {
      // Paths come from the program, not the peer, but a generic caller may name many.
      if (this.prefixes.size >= maxKeptBlocks) this.prefixes.clear();
      this.prefixes.set(path, { generation, block });
    }
    return block;
  }

  private start(stream: Http2Stream): void {
    if (this.nextId > maxStreamId) {
      this.finish(stream, unprocessedError(`connection to ${this.authority} ran out of stream ids`));
      return;
    }
    stream.id = this.nextId;
    this.nextId += 2;
    if (this.nextId > maxStreamId && this.moveTo("draining")) {
      // Ids ran out: this session takes no more streams; the connection dials a new one.
      this.events.onGoAway(http2Code.noError, "stream ids exhausted");
    }
    stream.sendWindow = this.peerInitialWindow;
    this.streams.add(stream);
    const block = this.headerBlockFor(stream.pendingPath, stream.pendingExtra);
    stream.pendingExtra = undefined;
    const queued = stream.queued;
    stream.queued = undefined;
    const endNow = stream.queuedEnd && (queued === undefined || queued.length === 0);
    this.writeHeaders(stream.id, block, endNow);
    if (endNow) {
      stream.localEnded = true;
      return;
    }
    if (queued !== undefined) {
      // Read before the loop: a write that blocks records its own end flag.
      const end = stream.queuedEnd;
      const last = queued.length - 1;
      for (let i = 0; i <= last; i++) this.sendData(stream, queued[i] as Uint8Array, i === last && end);
    }
    // A writer told to wait (write() returned false while the stream waited for a slot) hears
    // that it may go on, unless its data now waits for window instead.
    if (stream.queued === undefined && !stream.closed) stream.onDrain?.();
  }

  private writeHeaders(id: number, block: Buffer, end: boolean): void {
    const endFlag = end ? frameFlag.endStream : 0;
    if (block.length <= this.peerMaxFrame) {
      this.writeFrame(frameType.headers, endFlag | frameFlag.endHeaders, id, block);
      return;
    }
    // A block over the frame size continues in CONTINUATION frames.
    let off = 0;
    let type: number = frameType.headers;
    let flags = endFlag;
    while (off < block.length) {
      const n = Math.min(this.peerMaxFrame, block.length - off);
      const last = off + n === block.length;
      this.writeFrame(type, last ? flags | frameFlag.endHeaders : flags, id, block.subarray(off, off + n));
      off += n;
      type = frameType.continuation;
      flags = 0;
    }
  }

  /** @internal See {@link Http2Stream.write}. */
  sendData(stream: Http2Stream, data: Uint8Array, end: boolean): boolean {
    if (stream.closed || stream.localEnded) return true;
    if (stream.id === 0 || stream.queued !== undefined) {
      // Not started yet, or behind data that waits for window: keep the order.
      if (stream.queued === undefined) stream.queued = [data];
      else stream.queued.push(data);
      if (end) stream.queuedEnd = true;
      return false;
    }
    const off = this.emitData(stream, data, 0, end);
    if (off < data.length || (end && !stream.localEnded)) {
      stream.queued = [data.subarray(off)];
      stream.queuedEnd = stream.queuedEnd || end;
      this.blocked.add(stream);
      return false;
    }
    return true;
  }

  // Writes as much of data as the windows allow; returns how far it got.
  private emitData(stream: Http2Stream, data: Uint8Array, from: number, end: boolean): number {
    let off = from;
    if (data.length === off) {
      if (end) {
        this.writeFrame(frameType.data, frameFlag.endStream, stream.id, undefined);
        stream.localEnded = true;
      }
      return off;
    }
    while (off < data.length) {
      const n = Math.min(data.length - off, stream.sendWindow, this.sendWindow, this.peerMaxFrame);
      if (n <= 0) return off;
      const last = off + n === data.length;
      this.writeFrame(
        frameType.data,
        end && last ? frameFlag.endStream : 0,
        stream.id,
        n === data.length ? data : data.subarray(off, off + n),
      );
      stream.sendWindow -= n;
      this.sendWindow -= n;
      off += n;
    }
    if (end) stream.localEnded = true;
    return off;
  }

  // Sends what waited for window, oldest stream first.
  private flushBlocked(only?: Http2Stream): void {
    const streams = only !== undefined ? (this.blocked.has(only) ? [only] : []) : [...this.blocked];
    for (const stream of streams) {
      if (this.sendWindow <= 0) return;
      const queued = stream.queued as Uint8Array[];
      while (queued.length > 0) {
        const data = queued[0] as Uint8Array;
        const last = queued.length === 1;
        const off = this.emitData(stream, data, 0, last && stream.queuedEnd);
        if (off < data.length) {
          queued[0] = data.subarray(off);
          break;
        }
        queued.shift();
      }
      // Out of its own window: the streams after it may still use the connection's.
      if (queued.length > 0) continue;
      stream.queued = undefined;
      this.blocked.delete(stream);
      stream.onDrain?.();
    }
  }

  /** @internal See {@link Http2Stream.consumed}. */
  acknowledge(stream: Http2Stream, bytes: number): void {
    if (stream.closed) return;
    stream.recvUnacked += bytes;
    if (stream.recvUnacked >= streamWindow / 2) {
      this.writeWindowUpdate(stream.id, stream.recvUnacked);
      stream.recvWindow += stream.recvUnacked;
      stream.recvUnacked = 0;
    }
  }

  /** @internal See {@link Http2Stream.cancel}. */
  reset(stream: Http2Stream, code: number, error: ConnectError | undefined): void {
    if (stream.closed) return;
    if (stream.id !== 0 && !this.destroyed)
      this.writeFrame(frameType.rstStream, 0, stream.id, rstPayload(code));
    this.finish(stream, error);
  }

  /** Sends a PING; `onAck` runs when the server answers it. Returns its id for {@link cancelPing}. */
  ping(onAck: () => void): number {
    const n = this.nextPing++ >>> 0;
    if (this.destroyed) return n;
    const payload = Buffer.alloc(8);
    payload.writeUInt32BE(n, 4);
    this.pings.set(n, onAck);
    this.writeFrame(frameType.ping, 0, 0, payload);
    return n;
  }

  /** Streams opened and not yet closed, started or waiting for a stream slot. */
  *openStreams(): IterableIterator<Http2Stream> {
    yield* this.streams.list();
    yield* this.waiting;
  }

  /** Forgets a PING whose answer is no longer awaited (it timed out). */
  cancelPing(id: number): void {
    this.pings.delete(id);
  }

  /** Closes gracefully: no new streams; the socket closes once open streams are done. */
  close(): void {
    if (!this.moveTo("draining")) {
      // Still in the handshake (or already closed): nothing to drain.
      this.destroy(undefined);
      return;
    }
    for (const stream of this.waiting.splice(0)) {
      this.finish(stream, unprocessedError(`connection to ${this.authority} closed`));
    }
    if (this.streams.size === 0) this.destroy(undefined);
  }

  /**
   * Closes now: every open stream fails with `error`, or with Canceled when undefined (our own
   * close, which says GOAWAY and lets written frames go out first). `remoteClosed` marks a
   * connection the server closed without an error; `goAwayCode` is the HTTP/2 error code to tell
   * a peer that broke the protocol.
   */
  destroy(error: ConnectError | undefined, remoteClosed = false, goAwayCode?: number): void {
    // Past the handshake, the peer speaks HTTP/2 and is told why we leave.
    const spoken = this.current !== "handshake";
    if (!this.moveTo("closed")) return;
    const closedIdle = remoteClosed && this.streamCount === 0;
    if (error === undefined && spoken) {
      this.writeFrame(frameType.goAway, 0, 0, goAwayPayload(http2Code.noError));
      this.writer.flush();
      this.socket.end();
      // A server that never closes its side does not keep the socket.
      setTimeout(() => this.socket.destroy(), 1000).unref();
    } else {
      // Said on a best-effort basis: a socket that is not read is not waited for.
      if (goAwayCode !== undefined && spoken && !this.writer.writeBlocked) {
        this.writeFrame(frameType.goAway, 0, 0, goAwayPayload(goAwayCode));
      }
      this.writer.flush();
      this.socket.destroy();
    }
    this.writer.discard();
    const failure = error ?? new ConnectError(`connection to ${this.authority} closed`, Code.Canceled);
    for (const stream of this.waiting.splice(0)) {
      this.finish(stream, unprocessedError(failure.rawMessage));
    }
    for (const stream of this.streams.list()) this.finish(stream, failure);
    this.pings.clear();
    this.events.onClose(error, closedIdle);
  }

  private finish(stream: Http2Stream, error: ConnectError | undefined): void {
    if (stream.closed) return;
    stream.closed = true;
    if (stream.id !== 0) this.streams.delete(stream.id);
    else {
      const i = this.waiting.indexOf(stream);
      if (i >= 0) this.waiting.splice(i, 1);
    }
    if (stream.queued !== undefined) {
      stream.queued = undefined;
      this.blocked.delete(stream);
    }
    this.events.onStreamClose(stream);
    try {
      stream.handler.onClose(stream, error);
      // A writer waiting for window learns that there is nothing left to wait for.
      stream.onDrain?.();
    } catch (thrown) {
      // One stream's owner failing must not keep the others from hearing of their end.
      process.emitWarning(`etcd-connect: a stream's close handler threw: ${String(thrown)}`);
    }
    if (this.destroyed) return;
    while (this.waiting.length > 0 && this.streams.size < this.peerMaxStreams) {
      this.start(this.waiting.shift() as Http2Stream);
    }
    if (this.goingAway && this.streamCount === 0) this.destroy(undefined);
  }

  // --- writing ---

  private writeFrame(type: number, flags: number, id: number, payload: Uint8Array | undefined): void {
    this.writer.frame(type, flags, id, payload);
  }

  // An answer the peer provoked (an ACK, a RST_STREAM for its error): bounded while unwritten.
  private answer(type: number, flags: number, id: number, payload: Uint8Array | undefined): void {
    if (this.writer.answer(type, flags, id, payload)) return;
    this.destroy(
      new ConnectError(
        `${this.authority} flooded the connection: over ${maxQueuedControlFrames} control frames to answer while it does not read`,
        Code.Unavailable,
      ),
      false,
      http2Code.enhanceYourCalm,
    );
  }

  private writeWindowUpdate(id: number, increment: number): void {
    const payload = Buffer.allocUnsafe(4);
    payload.writeUInt32BE(increment, 0);
    this.writeFrame(frameType.windowUpdate, 0, id, payload);
  }

  // --- reading ---

  private read(chunk: Buffer): void {
    this.lastReadAt = Date.now();
    let off = 0;
    if (this.dataLeft > 0) {
      off = Math.min(this.dataLeft, chunk.length);
      this.dataLeft -= off;
      this.dataPiece(chunk, 0, off);
      if (this.destroyed || off === chunk.length) return;
    }
    const split = this.split;
    if (split !== undefined) {
      off = split.take(chunk, 0, maxFrameSize);
      if (off < 0) {
        this.frameTooLarge(split.declaredPayload);
        return;
      }
      if (!split.complete) return;
      this.split = undefined;
      this.frames(split.frame, 0);
      if (this.destroyed) return;
    }
    off = this.frames(chunk, off);
    if (this.destroyed || off === chunk.length) return;
    // What is left is a frame's beginning, its header (if complete) within the limit.
    if (this.beginSplitData(chunk, off)) return;
    this.split = new SplitFrame();
    this.split.take(chunk, off, maxFrameSize);
  }

  /**
   * Starts a DATA frame that runs past the read, when its header is complete and it has no
   * padding: its payload goes to the stream piece by piece, as nghttp2 hands it on, rather than
   * being copied until the frame is whole. (Most reads of a large transfer end inside a frame:
   * the copies were a quarter to a half of its bytes, each frame in a buffer of its own.) The
   * frame is judged by its header, as a whole frame is: windows, the stream's state, END_STREAM
   * once its last byte is in. Anything else that is split (a header, a padded frame, any other
   * type, or DATA before the handshake or inside a header block, which fail) goes to a
   * `SplitFrame`. Returns whether the frame was started.
   */
  private beginSplitData(chunk: Buffer, off: number): boolean {
    if (chunk.length - off < frameHeaderBytes) return false;
    const type = chunk[off + 3] as number;
    const flags = chunk[off + 4] as number;
    if (type !== frameType.data || flags & frameFlag.padded) return false;
    if (this.current === "handshake" || this.headerBlock.streamId !== 0) return false;
    const length =
      (chunk[off] as number) * 65_536 + (chunk[off + 1] as number) * 256 + (chunk[off + 2] as number);
    const id = chunk.readUInt32BE(off + 5) & 0x7fff_ffff;
    const start = off + frameHeaderBytes;
    this.serverWrites++;
    // `frames` stopped here because the payload is incomplete, so it is not empty.
    this.dataLeft = length - (chunk.length - start);
    this.dataId = id;
    this.dataEndsStream = (flags & frameFlag.endStream) !== 0;
    try {
      if (!this.chargeData(id, length)) return true;
      const stream = this.dataStream(flags, id, length, length);
      if (stream !== undefined && chunk.length > start)
        stream.handler.onData(stream, chunk, start, chunk.length);
    } catch (error) {
      this.handlerThrew(error);
    }
    return true;
  }

  // Bytes `start` to `end` of `chunk`, the next of the split DATA frame's payload.
  private dataPiece(chunk: Buffer, start: number, end: number): void {
    // Undefined when the frame was refused at its header, or the stream closed since.
    const stream = this.streams.get(this.dataId);
    if (stream === undefined) return;
    try {
      if (end > start) stream.handler.onData(stream, chunk, start, end);
      if (this.dataLeft === 0 && this.dataEndsStream && !stream.closed) this.remoteEnded(stream);
    } catch (error) {
      this.handlerThrew(error);
    }
  }

  // A handler that throws must not escape into the socket's 'data' event (a crash) or leave the
  // read half done: the session's state can no longer be trusted.
  private handlerThrew(error: unknown): void {
    this.destroy(
      new ConnectError(
        `internal error reading from ${this.authority}: ${error instanceof Error ? error.message : String(error)}`,
        Code.Internal,
        undefined,
        undefined,
        error,
      ),
      false,
      http2Code.internalError,
    );
  }

  /**
   * Handles every complete frame in `buf` from `off` on; returns the offset of the first
   * incomplete one (`buf.length` when none is).
   */
  private frames(buf: Buffer, from: number): number {
    let off = from;
    while (buf.length - off >= frameHeaderBytes) {
      const length =
        (buf[off] as number) * 65_536 + (buf[off + 1] as number) * 256 + (buf[off + 2] as number);
      if (length > maxFrameSize) {
        this.frameTooLarge(length);
        return off;
      }
      if (buf.length - off - frameHeaderBytes < length) break;
      const type = buf[off + 3] as number;
      const flags = buf[off + 4] as number;
      const id = buf.readUInt32BE(off + 5) & 0x7fff_ffff;
      const start = off + frameHeaderBytes;
      off = start + length;
      try {
        this.frame(type, flags, id, buf, start, off);
      } catch (error) {
        this.handlerThrew(error);
      }
      if (this.destroyed) return off;
    }
    return off;
  }

  private frameTooLarge(length: number): void {
    this.connectionError(
      http2Code.frameSizeError,
      `a frame of ${length} bytes, over the ${maxFrameSize} allowed`,
    );
  }

  // Ids the server may not use: 0 for stream frames, even ids (server-initiated: push is off),
  // and odd ids we have not opened yet (RFC 9113 §5.1: frames on idle streams).
  private isIdle(id: number): boolean {
    return (id & 1) === 0 || id >= this.nextId;
  }

  private frame(type: number, flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (this.current === "handshake" && type !== frameType.settings) {
      this.connectionError(http2Code.protocolError, "the first frame was not SETTINGS");
      return;
    }
    if (this.headerBlock.streamId !== 0 && type !== frameType.continuation) {
      this.connectionError(http2Code.protocolError, "a header block was interrupted");
      return;
    }
    switch (type) {
      case frameType.data:
        this.serverWrites++;
        this.onData(flags, id, buf, start, end);
        return;
      case frameType.headers:
        this.serverWrites++;
        this.onHeaders(flags, id, buf, start, end);
        return;
      case frameType.continuation:
        if (this.headerBlock.streamId === 0 || id !== this.headerBlock.streamId) {
          this.connectionError(http2Code.protocolError, "an unexpected CONTINUATION frame");
          return;
        }
        this.headerBlockDone(this.headerBlock.continue(flags, buf.subarray(start, end)));
        return;
      case frameType.rstStream:
        this.onRstStream(id, buf, start, end);
        return;
      case frameType.settings:
        this.onSettings(flags, id, buf, start, end);
        return;
      case frameType.ping:
        this.onPing(flags, id, buf, start, end);
        return;
      case frameType.goAway:
        this.onGoAway(id, buf, start, end);
        return;
      case frameType.windowUpdate:
        this.onWindowUpdate(id, buf, start, end);
        return;
      case frameType.pushPromise:
        this.connectionError(http2Code.protocolError, "PUSH_PROMISE, which the client disabled");
        return;
      default:
        // PRIORITY and unknown frame types carry nothing a client must act on (RFC 9113 §5.5).
        this.emptyFrame();
    }
  }

  // A frame that carried nothing for any stream: allowed, but not without end.
  private emptyFrame(): void {
    if (++this.emptyFrames > maxEmptyFramesInARow) {
      this.connectionError(
        http2Code.enhanceYourCalm,
        `over ${maxEmptyFramesInARow} frames in a row that carry nothing (empty DATA, PRIORITY, unknown types)`,
      );
    }
  }

  private onData(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    const length = end - start;
    if (!this.chargeData(id, length)) return;
    let from = start;
    let to = end;
    if (flags & frameFlag.padded) {
      if (length < 1) {
        this.connectionError(http2Code.protocolError, "a padded DATA frame without its pad length");
        return;
      }
      from++;
      to -= buf[start] as number;
      if (to < from) {
        this.connectionError(http2Code.protocolError, "a DATA frame with too much padding");
        return;
      }
    }
    const stream = this.dataStream(flags, id, length, to - from);
    if (stream === undefined) return;
    if (to > from) stream.handler.onData(stream, buf, from, to);
    if (flags & frameFlag.endStream) this.remoteEnded(stream);
  }

  // A DATA frame of `length` bytes on stream `id`, against the connection's window; false when
  // it broke a rule (the connection is closed).
  private chargeData(id: number, length: number): boolean {
    if (this.isIdle(id)) {
      this.connectionError(http2Code.protocolError, `DATA on stream ${id}, which is not open`);
      return false;
    }
    // A server that ignores our windows would make us buffer without bound.
    this.recvWindow -= length;
    if (this.recvWindow < 0) {
      this.connectionError(http2Code.flowControlError, "DATA beyond the connection's flow-control window");
      return false;
    }
    this.connUnacked += length;
    if (this.connUnacked >= connectionWindow / 2) {
      this.writeWindowUpdate(0, this.connUnacked);
      this.recvWindow += this.connUnacked;
      this.connUnacked = 0;
    }
    return true;
  }

  // The open stream a DATA frame of `length` bytes, `payload` of them data (the rest padding),
  // goes to, its window charged; undefined when it goes nowhere (a stream we closed) or broke a
  // rule (the stream or the connection is closed).
  private dataStream(flags: number, id: number, length: number, payload: number): Http2Stream | undefined {
    // Only what reaches an open stream starts the count again: late frames for a stream we
    // closed carry nothing, and the empty ones count.
    const stream = this.streams.get(id);
    if (stream !== undefined && (payload > 0 || flags & frameFlag.endStream)) this.emptyFrames = 0;
    else if (payload === 0) {
      this.emptyFrame();
      if (this.destroyed) return undefined;
    }
    // A stream we already closed: its late frames only counted against the connection's window.
    if (stream === undefined) return undefined;
    if (!stream.responded) {
      this.streamError(stream, http2Code.protocolError, "DATA before the response headers");
      return undefined;
    }
    stream.recvWindow -= length;
    if (stream.recvWindow < 0) {
      this.streamError(stream, http2Code.flowControlError, "DATA beyond the stream's flow-control window");
      return undefined;
    }
    if (!stream.manualWindow) this.acknowledge(stream, length);
    else if (payload < length) this.acknowledge(stream, length - payload);
    return stream;
  }

  private onHeaders(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (this.isIdle(id)) {
      this.connectionError(http2Code.protocolError, `HEADERS on stream ${id}, which is not open`);
      return;
    }
    let from = start;
    let to = end;
    if (flags & frameFlag.padded) {
      if (end - start < 1) {
        this.connectionError(http2Code.protocolError, "a padded HEADERS frame without its pad length");
        return;
      }
      from++;
      to -= buf[start] as number;
    }
    if (flags & frameFlag.priority) from += 5;
    if (to < from) {
      this.connectionError(http2Code.protocolError, "a HEADERS frame with bad padding");
      return;
    }
    this.headerBlockDone(this.headerBlock.begin(id, flags, buf.subarray(from, to)));
  }

  private headerBlockDone(result: HeaderBlockResult): void {
    if (result.kind === "incomplete") return;
    if (result.kind === "error") {
      this.connectionError(result.code, result.detail);
      return;
    }
    // Decoded even for a stream we no longer track: the decoder's table had to stay in step.
    const stream = this.streams.get(result.id);
    if (stream === undefined) {
      this.emptyFrame();
      return;
    }
    this.emptyFrames = 0;
    if (result.kind === "too_large") {
      this.streamError(stream, http2Code.protocolError, result.detail);
      return;
    }
    const { section, endStream } = result;
    const headers = section.headers;
    if (stream.responded && !endStream) {
      this.streamError(stream, http2Code.protocolError, "trailers without END_STREAM");
      return;
    }
    const malformed = section.malformed(!stream.responded);
    if (malformed !== undefined) {
      this.streamError(stream, http2Code.protocolError, `a malformed header section: ${malformed}`);
      return;
    }
    // An informational (1xx) answer comes before the real one.
    if (!stream.responded && !endStream && headers[":status"]?.charCodeAt(0) === 49) return;
    if (!stream.responded) {
      stream.responded = true;
      stream.handler.onResponse(stream, headers, endStream);
    } else {
      stream.handler.onTrailers(stream, headers);
    }
    if (endStream) this.remoteEnded(stream);
  }

  private remoteEnded(stream: Http2Stream): void {
    if (stream.closed) return;
    // The server is done: if our side is still open (a stream cut short), reset it.
    if (!stream.localEnded) this.reset(stream, http2Code.noError, undefined);
    else this.finish(stream, undefined);
  }

  private onRstStream(id: number, buf: Buffer, start: number, end: number): void {
    if (end - start !== 4) {
      this.connectionError(http2Code.frameSizeError, "a RST_STREAM frame of the wrong size");
      return;
    }
    if (this.isIdle(id)) {
      this.connectionError(http2Code.protocolError, `RST_STREAM on stream ${id}, which is not open`);
      return;
    }
    const stream = this.streams.get(id);
    if (stream === undefined) return;
    const code = buf.readUInt32BE(start);
    stream.rstCode = code;
    const message = `http/2 stream reset by ${this.authority} (${codeName(code)})`;
    this.finish(
      stream,
      code === http2Code.refusedStream
        ? unprocessedError(message)
        : new ConnectError(message, Code.Unavailable),
    );
  }

  private onSettings(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id !== 0) {
      this.connectionError(http2Code.protocolError, "SETTINGS on a stream");
      return;
    }
    if (flags & frameFlag.ack) {
      if (end !== start) this.connectionError(http2Code.frameSizeError, "a SETTINGS ACK with a payload");
      // We send one SETTINGS: its ACK is owed once, and any further one carries nothing.
      else this.emptyFrame();
      return;
    }
    if ((end - start) % 6 !== 0) {
      this.connectionError(http2Code.frameSizeError, "a SETTINGS frame of the wrong size");
      return;
    }
    if ((end - start) / 6 > maxSettingsEntries) {
      this.connectionError(
        http2Code.enhanceYourCalm,
        `a SETTINGS frame of ${(end - start) / 6} entries, over the ${maxSettingsEntries} allowed`,
      );
      return;
    }
    // The frame's last initial window counts: applied to the open streams once, after the loop.
    let initialWindow = this.peerInitialWindow;
    for (let off = start; off < end; off += 6) {
      const key = buf.readUInt16BE(off);
      const value = buf.readUInt32BE(off + 2);
      if (key === setting.initialWindowSize) {
        if (value > maxWindow) {
          this.connectionError(http2Code.flowControlError, "an initial window over 2^31-1");
          return;
        }
        initialWindow = value;
      } else if (key === setting.maxFrameSize) {
        if (value < 16_384 || value > 16_777_215) {
          this.connectionError(http2Code.protocolError, `a SETTINGS_MAX_FRAME_SIZE of ${value}`);
          return;
        }
        this.peerMaxFrame = value;
      } else if (key === setting.maxConcurrentStreams) {
        this.peerMaxStreams = value;
      } else if (key === setting.headerTableSize) {
        // In force from our ACK below, which goes out before any block encoded after it.
        this.encoder.setPeerTableSize(value);
      } else if (key === setting.enablePush && value !== 0) {
        // RFC 9113 §6.5.2: a server may only say 0; 1 from a server is an error.
        this.connectionError(http2Code.protocolError, `a SETTINGS_ENABLE_PUSH of ${value}`);
        return;
      }
    }
    if (initialWindow !== this.peerInitialWindow) {
      // A new initial window moves every open stream's window by the difference.
      const delta = initialWindow - this.peerInitialWindow;
      this.peerInitialWindow = initialWindow;
      const overflowed = this.streams.some((stream) => {
        stream.sendWindow += delta;
        return stream.sendWindow > maxWindow;
      });
      if (overflowed) {
        this.connectionError(http2Code.flowControlError, "a stream window overflowed");
        return;
      }
    }
    this.answer(frameType.settings, frameFlag.ack, 0, undefined);
    if (this.destroyed) return;
    if (this.moveTo("open")) this.events.onReady();
    if (this.blocked.size > 0) this.flushBlocked();
    while (this.waiting.length > 0 && this.streams.size < this.peerMaxStreams) {
      this.start(this.waiting.shift() as Http2Stream);
    }
  }

  private onPing(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id !== 0) {
      this.connectionError(http2Code.protocolError, "PING on a stream");
      return;
    }
    if (end - start !== 8) {
      this.connectionError(http2Code.frameSizeError, "a PING frame of the wrong size");
      return;
    }
    if (flags & frameFlag.ack) {
      const n = buf.readUInt32BE(start + 4);
      const onAck = this.pings.get(n);
      if (onAck === undefined) {
        this.emptyFrame();
        return;
      }
      this.pings.delete(n);
      onAck();
    } else {
      this.answer(frameType.ping, frameFlag.ack, 0, buf.subarray(start, end));
    }
  }

  private onGoAway(id: number, buf: Buffer, start: number, end: number): void {
    if (id !== 0) {
      this.connectionError(http2Code.protocolError, "GOAWAY on a stream");
      return;
    }
    if (end - start < 8) {
      this.connectionError(http2Code.frameSizeError, "a GOAWAY frame of the wrong size");
      return;
    }
    const lastId = buf.readUInt32BE(start) & 0x7fff_ffff;
    const code = buf.readUInt32BE(start + 4);
    // Read no more of the debug data than an error message may carry.
    const debugEnd = Math.min(end, start + 8 + 2 * maxDebugText);
    const debug = serverText(buf.toString("latin1", start + 8, debugEnd), maxDebugText);
    this.moveTo("draining");
    this.events.onGoAway(code, debug);
    const why = `GOAWAY from ${this.authority} (${codeName(code)}${debug ? `: ${debug}` : ""})`;
    // Streams above the last id were never processed: they may be sent again.
    for (const stream of this.waiting.splice(0)) this.finish(stream, unprocessedError(why));
    for (const stream of this.streams.list()) {
      if (stream.id > lastId) this.finish(stream, unprocessedError(why));
    }
    if (this.streams.size === 0) this.destroy(undefined);
  }

  private onWindowUpdate(id: number, buf: Buffer, start: number, end: number): void {
    if (end - start !== 4) {
      this.connectionError(http2Code.frameSizeError, "a WINDOW_UPDATE frame of the wrong size");
      return;
    }
    const increment = buf.readUInt32BE(start) & 0x7fff_ffff;
    if (id === 0) {
      if (increment === 0) {
        this.connectionError(http2Code.protocolError, "a WINDOW_UPDATE of 0");
        return;
      }
      this.sendWindow += increment;
      if (this.sendWindow > maxWindow) {
        this.connectionError(http2Code.flowControlError, "the connection window overflowed");
        return;
      }
      if (this.blocked.size > 0) this.flushBlocked();
      return;
    }
    if (this.isIdle(id)) {
      this.connectionError(http2Code.protocolError, `WINDOW_UPDATE on stream ${id}, which is not open`);
      return;
    }
    const stream = this.streams.get(id);
    if (stream === undefined) {
      this.emptyFrame();
      return;
    }
    if (increment === 0) {
      this.streamError(stream, http2Code.protocolError, "a WINDOW_UPDATE of 0");
      return;
    }
    stream.sendWindow += increment;
    if (stream.sendWindow > maxWindow) {
      this.streamError(stream, http2Code.flowControlError, "the stream window overflowed");
      return;
    }
    if (stream.queued !== undefined && this.sendWindow > 0) this.flushBlocked(stream);
  }

  // The peer broke the protocol on one stream (RFC 9113 §5.4.2): that stream is reset and its
  // call fails; the connection and its other streams go on.
  private streamError(stream: Http2Stream, code: number, detail: string): void {
    if (stream.closed) return;
    this.answer(frameType.rstStream, 0, stream.id, rstPayload(code));
    this.finish(
      stream,
      new ConnectError(`HTTP/2 stream error from ${this.authority}: ${detail}`, Code.Internal),
    );
  }

  // The peer broke the protocol for the whole connection (RFC 9113 §5.4.1): GOAWAY and close.
  private connectionError(code: number, detail: string): void {
    this.destroy(
      new ConnectError(
        this.current !== "handshake"
          ? `HTTP/2 protocol error from ${this.authority}: ${detail}`
          : `${this.authority} does not speak HTTP/2 (${detail})`,
        Code.Unavailable,
      ),
      false,
      code,
    );
  }
}

// The most GOAWAY debug text an error carries: a peer's 16 KiB must not reach logs.
const maxDebugText = 256;

function goAwayPayload(code: number): Buffer {
  const payload = Buffer.alloc(8);
  payload.writeUInt32BE(code, 4);
  return payload;
}

function rstPayload(code: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(code, 0);
  return payload;
}

function socketError(authority: string, cause: Error): ConnectError {
  return new ConnectError(
    `connection to ${authority} failed: ${cause.message}`,
    Code.Unavailable,
    undefined,
    undefined,
    cause,
  );
}
