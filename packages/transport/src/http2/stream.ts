import type { ConnectError } from "@connectrpc/connect";
import { http2Code } from "./error-codes.js";
import type { Http2Headers } from "./headers.js";
import { streamWindow } from "./limits.js";

export type { Http2Headers };

/**
 * What a stream asks of the session that carries it ({@link Http2Session} implements it): an
 * interface here, so that streams and sessions do not import each other.
 */
export interface Http2StreamOwner {
  sendData(stream: Http2Stream, data: Uint8Array, end: boolean): boolean;
  reset(stream: Http2Stream, code: number, error: ConnectError | undefined): void;
  acknowledge(stream: Http2Stream, bytes: number): void;
}

/**
 * What the owner of a stream hears. Every callback runs synchronously from the socket's read,
 * so a handler object with methods costs one allocation per stream, no listeners.
 */
export interface Http2StreamHandler {
  /**
   * The response's header fields; `endStream` marks a trailers-only answer (RFC 9113 §8.1), whose
   * headers carry the gRPC status and which ends right after.
   */
  onResponse(stream: Http2Stream, headers: Http2Headers, endStream: boolean): void;
  /**
   * A DATA payload, or the part of one that a socket read brought (a frame that runs past a read
   * comes in pieces, as its bytes arrive): bytes `start` to `end` of `buf`, the socket's read,
   * valid for as long as it is held. A range rather than a view: most handlers cut it into messages or copy it, and a
   * view per frame was an object for every message of a stream of small ones.
   */
  onData(stream: Http2Stream, buf: Uint8Array, start: number, end: number): void;
  onTrailers(stream: Http2Stream, trailers: Http2Headers): void;
  /** Runs once: undefined when the server ended the stream, else why it failed. */
  onClose(stream: Http2Stream, error: ConnectError | undefined): void;
}

/** One stream of an HTTP/2 session (see {@link Http2StreamOwner}). */
export class Http2Stream {
  /** 0 until the stream's HEADERS went out (it may wait for a stream slot). */
  id = 0;
  /** The code of a RST_STREAM the server sent, if any. */
  rstCode: number | undefined = undefined;
  closed = false;
  /** The response's HEADERS arrived; later HEADERS are trailers. */
  responded = false;
  /**
   * Set by owners that apply backpressure: they call {@link consumed} as they read. Others have
   * received data acknowledged as it arrives.
   */
  manualWindow = false;
  /** Runs when data that waited for flow-control window has gone out, or the stream closed. */
  onDrain: (() => void) | undefined = undefined;
  /** @internal */ sendWindow = 0;
  /** @internal */ recvUnacked = 0;
  /** @internal What the server may still send on this stream before we return window. */ recvWindow =
    streamWindow;
  /** @internal */ localEnded = false;
  /** @internal */ queued: Uint8Array[] | undefined = undefined;
  /** @internal */ queuedEnd = false;
  /** @internal The request's `:path` and extra fields, encoded when its HEADERS frame goes out. */
  pendingPath = "";
  /** @internal */ pendingExtra: ReadonlyArray<readonly [string, string]> | undefined = undefined;

  readonly session: Http2StreamOwner;
  readonly handler: Http2StreamHandler;
  /** Unary calls are watched for silence by their connection; long-lived streams are not. */
  readonly probe: boolean;
  /** The call may run again elsewhere: its connection fails it early when the peer stops answering. */
  readonly retrySafe: boolean;

  constructor(session: Http2StreamOwner, handler: Http2StreamHandler, probe: boolean, retrySafe = false) {
    this.session = session;
    this.handler = handler;
    this.probe = probe;
    this.retrySafe = retrySafe;
  }

  /** Sends data, `end` closing our side. False when some of it waits for window: see onDrain. */
  write(data: Uint8Array, end: boolean): boolean {
    return this.session.sendData(this, data, end);
  }

  /** Resets the stream (RST_STREAM CANCEL); the handler's onClose gets `error`. */
  cancel(error: ConnectError): void {
    this.session.reset(this, http2Code.cancel, error);
  }

  /** Returns read bytes to the server's send window (for streams with {@link manualWindow}). */
  consumed(bytes: number): void {
    this.session.acknowledge(this, bytes);
  }
}
