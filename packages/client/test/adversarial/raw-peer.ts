// A raw HTTP/2 server for adversarial tests, over node:net, not node:http2: node's server would
// refuse to send most of what these tests need (bad frames, bad HPACK, floods). It parses what
// the client sends, records it, answers the handshake, PINGs and well-formed calls like a plain
// gRPC server, and otherwise writes whatever bytes the scenario asks for.

import { once } from "node:events";
import * as net from "node:net";
import { HpackDecoder } from "@etcd-connect/transport";
import {
  type ClientFrame,
  data,
  defaultMaxFrame,
  ErrorCode,
  Flag,
  FrameReader,
  FrameType,
  goAway,
  headers,
  ping,
  Setting,
  settings,
  typeName,
} from "./frames.js";
import {
  decodeWatchRequest,
  envelope,
  envelopes,
  okHeaders,
  okTrailers,
  paths,
  rangeResponse,
  snapshotResponse,
  watchResponse,
} from "./grpc.js";
import type { HeaderFields } from "./hpack-writer.js";
import { waitUntil } from "./wait.js";

export { sleep, waitUntil } from "./wait.js";

export interface PeerOptions {
  /** Answer the client's SETTINGS with ours plus an ACK (default true). */
  handshake?: boolean;
  /** Our SETTINGS entries in the handshake. */
  settings?: ReadonlyArray<readonly [number, number]>;
  /** Acknowledge the client's PINGs (default true), as any live server does. */
  answerPings?: boolean;
  /** The client's first bytes arrived (preface, SETTINGS); runs before our handshake goes out. */
  onConnection?: (conn: PeerConnection) => void;
  /** The client opened a stream (its header block is complete). Default: {@link PeerStream.answer}. */
  onStream?: (stream: PeerStream) => void | Promise<void>;
}

export class RawPeer {
  readonly port: number;
  readonly connections: PeerConnection[] = [];
  /** Every stream the client opened, on any connection, in order. */
  readonly streams: PeerStream[] = [];
  /** Scripts that threw: a harness bug to report, never to swallow. */
  readonly problems: string[] = [];
  readonly startedAt = Date.now();
  readonly options: PeerOptions;
  private readonly server: net.Server;

  private constructor(server: net.Server, options: PeerOptions) {
    this.server = server;
    this.options = options;
    this.port = (server.address() as net.AddressInfo).port;
    server.on("connection", (socket) => {
      this.connections.push(new PeerConnection(this, socket, this.connections.length));
    });
  }

  static async start(options: PeerOptions = {}): Promise<RawPeer> {
    const server = net.createServer();
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return new RawPeer(server, options);
  }

  /** Destroys every connection and stops listening. */
  async close(): Promise<void> {
    for (const conn of this.connections) conn.destroy();
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Every frame the client sent on every connection, for failure messages. */
  describe(): string {
    const shown = this.connections.slice(0, 4).map((c) => `conn#${c.index}: ${c.describe()}`);
    if (this.connections.length > 4) shown.push(`... ${this.connections.length - 4} more connections`);
    return shown.join("\n");
  }

  /** @internal */
  run(label: string, script: () => void | Promise<void>): void {
    const report = (error: unknown) =>
      this.problems.push(`peer ${label} threw: ${error instanceof Error ? error.stack : String(error)}`);
    try {
      const result = script();
      if (result instanceof Promise) result.catch(report);
    } catch (error) {
      report(error);
    }
  }
}

const maxRecorded = 5000;

export class PeerConnection {
  readonly peer: RawPeer;
  readonly socket: net.Socket;
  readonly index: number;
  /** The first {@link maxRecorded} frames the client sent, payloads copied. */
  readonly frames: ClientFrame[] = [];
  /** Every frame the client sent, counted by "type" or "type+ack" (floods exceed `frames`). */
  readonly counts = new Map<string, number>();
  readonly streams = new Map<number, PeerStream>();
  /** RST_STREAM frames the client sent. */
  readonly rsts: Array<{ streamId: number; code: number }> = [];
  readonly goAways: Array<{ lastStreamId: number; code: number; debug: string }> = [];
  /** The client's SETTINGS values, the latest per identifier. */
  readonly clientSettings = new Map<number, number>();
  /** When the client ended (FIN) or reset the TCP connection, ms since the peer started. */
  closedAt: number | undefined = undefined;
  /** Set when this side closed first: then a close is not the client's doing. */
  closedByPeer = false;
  readonly closed: Promise<void>;
  /** What the client allowed us to send, as far as its WINDOW_UPDATEs told us (RFC 9113 §6.9). */
  sendWindow = 65_535;
  private initialWindow = 65_535;
  private readonly reader: FrameReader;
  private readonly decoder = new HpackDecoder();
  private block: { streamId: number; fragments: Buffer[]; endStream: boolean } | undefined;

  constructor(peer: RawPeer, socket: net.Socket, index: number) {
    this.peer = peer;
    this.socket = socket;
    this.index = index;
    let markClosed: () => void = () => {};
    this.closed = new Promise((resolve) => {
      markClosed = resolve;
    });
    const onClose = () => {
      this.closedAt ??= Date.now() - peer.startedAt;
      markClosed();
    };
    socket.on("end", onClose);
    socket.on("close", onClose);
    // EPIPE and ECONNRESET are what a peer that writes to a client that hung up gets.
    socket.on("error", () => {});
    this.reader = new FrameReader((frame) => this.onFrame(frame));
    let first = true;
    socket.on("data", (chunk: Buffer) => {
      if (first) {
        // The client writes its preface and SETTINGS at once: this runs before our handshake.
        first = false;
        peer.run(`onConnection#${index}`, () => peer.options.onConnection?.(this));
      }
      // A parse failure here is the peer's bug: reported, never thrown into the socket's event.
      peer.run(`read#${index}`, () => this.reader.push(chunk));
    });
  }

  /** Writes raw bytes (any frames); false once the socket is gone. */
  write(...buffers: Uint8Array[]): boolean {
    if (this.socket.destroyed || this.socket.writableEnded) return false;
    this.socket.write(buffers.length === 1 ? (buffers[0] as Uint8Array) : Buffer.concat(buffers));
    return true;
  }

  /** Closes the TCP connection from this side. */
  destroy(): void {
    if (this.closedAt === undefined) this.closedByPeer = true;
    this.socket.destroy();
  }

  /** True once the client closed the connection (not us). */
  get closedByClient(): boolean {
    return this.closedAt !== undefined && !this.closedByPeer;
  }

  /** Frames of a type (and stream) the client sent. */
  framesOf(type: number, streamId?: number): ClientFrame[] {
    return this.frames.filter((f) => f.type === type && (streamId === undefined || f.streamId === streamId));
  }

  /**
   * DATA of `bytes` on a stream in frames of at most 16 KiB, charged to our view of the
   * client's flow-control windows (which may go negative: the scenario decides).
   */
  sendData(streamId: number, bytes: Uint8Array, options: { endStream?: boolean } = {}): void {
    const frames: Buffer[] = [];
    for (let off = 0; off < bytes.length || off === 0; off += defaultMaxFrame) {
      const part = bytes.subarray(off, off + defaultMaxFrame);
      const last = off + defaultMaxFrame >= bytes.length;
      frames.push(data(streamId, part, { endStream: last && (options.endStream ?? false) }));
      this.sendWindow -= part.length;
      const stream = this.streams.get(streamId);
      if (stream !== undefined) stream.sendWindow -= part.length;
    }
    this.write(...frames);
  }

  /**
   * Writes `unit` (one or more whole frames) over and over, as fast as the socket takes it,
   * until `maxBytes` went out, `maxMs` passed or the connection closed. Respects our own
   * socket's backpressure, so the peer's memory stays flat: any growth is the client's.
   */
  async flood(unit: Buffer, options: { maxBytes: number; maxMs: number }): Promise<number> {
    const chunk = Buffer.concat(
      Array.from({ length: Math.max(1, Math.floor(65_536 / unit.length)) }, () => unit),
    );
    const giveUpAt = Date.now() + options.maxMs;
    let written = 0;
    let writes = 0;
    while (!this.socket.destroyed && written < options.maxBytes && Date.now() < giveUpAt) {
      const more = this.socket.write(chunk);
      written += chunk.length;
      if (!more) await this.drained(giveUpAt - Date.now());
      // Yield now and then: the client reads in this same process.
      else if (++writes % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    return written;
  }

  private drained(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.socket.off("drain", done);
        this.socket.off("close", done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      this.socket.on("drain", done);
      this.socket.on("close", done);
    });
  }

  /** "SETTINGS WINDOW_UPDATE HEADERS#1 DATA#1+ES RST_STREAM#1(CANCEL) GOAWAY(...)" */
  describe(): string {
    const shown = this.frames.slice(0, 40).map((f) => {
      let text = typeName(f.type);
      if (f.streamId !== 0) text += `#${f.streamId}`;
      if ((f.type === FrameType.settings || f.type === FrameType.ping) && f.flags & Flag.ack) text += "+ACK";
      if ((f.type === FrameType.data || f.type === FrameType.headers) && f.flags & Flag.endStream)
        text += "+ES";
      if (f.type === FrameType.rstStream || f.type === FrameType.goAway) {
        text += `(${f.payload.length >= 4 ? f.payload.readUInt32BE(f.type === FrameType.goAway ? 4 : 0) : "?"})`;
      }
      return text;
    });
    const total = [...this.counts.values()].reduce((sum, n) => sum + n, 0);
    if (total > shown.length) shown.push(`... ${total - shown.length} more`);
    const end =
      this.closedAt === undefined
        ? "open"
        : `closed by ${this.closedByPeer ? "peer" : "client"} at ${this.closedAt} ms`;
    return `${shown.join(" ")} [${end}]`;
  }

  /** How many frames of a type the client sent (only ACKs, or only non-ACKs, when asked). */
  count(type: number, ack?: boolean): number {
    if (ack === undefined) return (this.counts.get(`${type}`) ?? 0) + (this.counts.get(`${type}+ack`) ?? 0);
    return this.counts.get(ack ? `${type}+ack` : `${type}`) ?? 0;
  }

  private onFrame(frame: Omit<ClientFrame, "at">): void {
    const { type, flags, streamId, payload } = frame;
    const key =
      (type === FrameType.settings || type === FrameType.ping) && flags & Flag.ack
        ? `${type}+ack`
        : `${type}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    // Bounded: a flood's answers would otherwise grow the peer, and the harness measures RSS.
    if (this.frames.length < maxRecorded) {
      this.frames.push({
        type,
        flags,
        streamId,
        payload: Buffer.from(payload),
        at: Date.now() - this.peer.startedAt,
      });
    }
    switch (type) {
      case FrameType.settings:
        if (flags & Flag.ack) return;
        for (let off = 0; off + 6 <= payload.length; off += 6) {
          const id = payload.readUInt16BE(off);
          const value = payload.readUInt32BE(off + 2);
          this.clientSettings.set(id, value);
          if (id === Setting.initialWindowSize) {
            for (const stream of this.streams.values()) stream.sendWindow += value - this.initialWindow;
            this.initialWindow = value;
          }
        }
        if (this.peer.options.handshake !== false) {
          this.write(settings(this.peer.options.settings ?? []), settings([], { ack: true }));
        }
        return;
      case FrameType.ping:
        if (!(flags & Flag.ack) && this.peer.options.answerPings !== false)
          this.write(ping(payload, { ack: true }));
        return;
      case FrameType.windowUpdate: {
        if (payload.length !== 4) return;
        const increment = payload.readUInt32BE(0) & 0x7fff_ffff;
        if (streamId === 0) this.sendWindow += increment;
        else {
          const stream = this.streams.get(streamId);
          if (stream !== undefined) stream.sendWindow += increment;
        }
        return;
      }
      case FrameType.rstStream: {
        if (payload.length !== 4) return;
        const code = payload.readUInt32BE(0);
        this.rsts.push({ streamId, code });
        const stream = this.streams.get(streamId);
        if (stream !== undefined) stream.resetCode = code;
        return;
      }
      case FrameType.goAway:
        this.goAways.push({
          lastStreamId: payload.readUInt32BE(0) & 0x7fff_ffff,
          code: payload.readUInt32BE(4),
          debug: payload.toString("latin1", 8),
        });
        return;
      case FrameType.headers: {
        let from = 0;
        let to = payload.length;
        if (flags & Flag.padded) {
          from = 1;
          to -= payload[0] as number;
        }
        if (flags & Flag.priority) from += 5;
        this.block = {
          streamId,
          fragments: [Buffer.from(payload.subarray(from, to))],
          endStream: (flags & Flag.endStream) !== 0,
        };
        if (flags & Flag.endHeaders) this.endBlock();
        return;
      }
      case FrameType.continuation:
        this.block?.fragments.push(Buffer.from(payload));
        if (flags & Flag.endHeaders) this.endBlock();
        return;
      case FrameType.data: {
        const stream = this.streams.get(streamId);
        if (stream === undefined) return;
        stream.request.push(Buffer.from(payload));
        if (flags & Flag.endStream) stream.ended = true;
        return;
      }
      default:
    }
  }

  private endBlock(): void {
    const block = this.block;
    this.block = undefined;
    if (block === undefined) return;
    const fields = this.decoder.decode(Buffer.concat(block.fragments));
    if (this.streams.has(block.streamId)) return; // the client's trailers: gRPC clients send none
    const stream = new PeerStream(this, block.streamId, fields, this.initialWindow);
    stream.ended = block.endStream;
    this.streams.set(stream.id, stream);
    this.peer.streams.push(stream);
    const onStream = this.peer.options.onStream ?? ((s: PeerStream) => s.answer());
    this.peer.run(`onStream#${stream.id}`, () => onStream(stream));
  }
}

/** GOAWAY (NO_ERROR unless given) then a FIN: how a server leaves politely. */
export function leave(
  conn: PeerConnection,
  lastStreamId: number,
  code: number = ErrorCode.noError,
  debug = "",
): void {
  conn.write(goAway(lastStreamId, code, debug));
  conn.socket.end();
  conn.closedByPeer = true;
}

/** A stream the client opened, with what it sent and helpers to answer it. */
export class PeerStream {
  readonly conn: PeerConnection;
  readonly id: number;
  readonly path: string;
  readonly headers: Record<string, string>;
  /** DATA payloads the client sent. */
  readonly request: Buffer[] = [];
  /** The client sent END_STREAM. */
  ended = false;
  /** The code of the client's RST_STREAM for this stream, if it sent one. */
  resetCode: number | undefined = undefined;
  /** Our view of the client's window for this stream. */
  sendWindow: number;

  constructor(conn: PeerConnection, id: number, fields: Record<string, string>, initialWindow: number) {
    this.conn = conn;
    this.id = id;
    this.headers = fields;
    this.path = fields[":path"] ?? "";
    this.sendWindow = initialWindow;
  }

  /** The client's request messages so far (gRPC payloads). */
  messages(): Buffer[] {
    return envelopes(Buffer.concat(this.request));
  }

  /** Waits (up to 2 s) for the client's `count`th request message. */
  async message(count = 1): Promise<Buffer> {
    const gone = () => this.resetCode !== undefined || this.conn.closedAt !== undefined;
    if (!(await waitUntil(() => this.messages().length >= count || gone(), 2000))) {
      throw new Error(`stream ${this.id}: no request message ${count} within 2 s`);
    }
    const message = this.messages()[count - 1];
    if (message === undefined) throw new Error(`stream ${this.id}: reset or closed before message ${count}`);
    return message;
  }

  /** Writes raw frames. */
  send(...frames: Uint8Array[]): void {
    this.conn.write(...frames);
  }

  /** HEADERS with `fields` (default: a gRPC 200). */
  respond(fields: HeaderFields = okHeaders, endStream = false): void {
    this.send(headers(this.id, fields, { endStream }));
  }

  /** One gRPC message in DATA frames. */
  sendMessage(payload: Uint8Array, endStream = false): void {
    this.conn.sendData(this.id, envelope(payload), { endStream });
  }

  /** Trailers, ending the stream. */
  trail(fields: HeaderFields = okTrailers): void {
    this.send(headers(this.id, fields, { endStream: true }));
  }

  /** Answers as a healthy etcd would: by path; a watch gets its created answer and stays open. */
  async answer(): Promise<void> {
    switch (this.path) {
      case paths.range:
        this.respond();
        this.sendMessage(rangeResponse());
        this.trail();
        return;
      case paths.snapshot:
        this.respond();
        this.sendMessage(snapshotResponse(Buffer.from("snapshot")));
        this.trail();
        return;
      case paths.watch: {
        // A watch stream reset or closed before its create request has nothing to answer.
        const first = await this.message().catch(() => undefined);
        if (first === undefined) return;
        const create = decodeWatchRequest(first);
        const watchId = create.requestUnion.case === "createRequest" ? create.requestUnion.value.watchId : 0n;
        this.respond();
        this.sendMessage(watchResponse({ watchId, created: true }));
        return;
      }
      default:
        this.respond([...okHeaders, ["grpc-status", "12"]], true);
    }
  }
}
