import { Code, ConnectError } from "@connectrpc/connect";
import type { Http2Headers } from "../http2/headers.js";
import type { Http2Stream, Http2StreamHandler } from "../http2/stream.js";
import { EnvelopeReader, type EnvelopeSink } from "./envelope-reader.js";
import { onAbort } from "./on-abort.js";
import { abortError, neverSignal, type UnaryAnswer } from "./unary-call.js";

/**
 * What a {@link UnaryExchange} tells the layer that opened it, about a call whose own data is
 * `C` (a balancer passes its attempt record). One hooks object serves every call, so a call
 * allocates no closures.
 */
export interface UnaryExchangeHooks<C> {
  /** The response headers are not a gRPC answer: returns the error the call fails with. */
  notGrpc(context: C, status: number, contentType: string): ConnectError;
  /** The stream failed before a whole answer: reset, connection lost, protocol error. */
  failed(context: C, error: ConnectError): void;
  /** A whole answer arrived (whatever its gRPC status). */
  answered(context: C): void;
  /** The connection could not be opened for the call: returns the error the call fails with. */
  dialFailed(context: C, error: unknown): ConnectError;
}

// A proxy in front of a server may answer these while it is away: Connect maps them to retryable codes.
const gatewayStatuses = new Set([502, 503, 504]);

/** An answer from a gRPC server, or from a gateway in front of one. */
export function isGrpcAnswer(status: number, contentType: string): boolean {
  return (status === 200 || gatewayStatuses.has(status)) && contentType.startsWith("application/grpc");
}

const noHeaders: Http2Headers = {};

/**
 * One unary call's stream: collects the answer, checked as it arrives (one message, of its
 * declared length, within `readMaxBytes`), and settles the call once. A class, so a call costs one
 * object here and no listeners.
 */
export class UnaryExchange<C> implements Http2StreamHandler, EnvelopeSink {
  private head: Http2Headers | undefined = undefined;
  private trailers: Http2Headers = noHeaders;
  private status: Http2Headers | undefined = undefined;
  private readonly reader: EnvelopeReader;
  private message: Uint8Array | Uint8Array[] | undefined = undefined;
  private extra = false;
  /** True once the call is settled; a stream opened after that is cancelled. */
  settled = false;
  private stream: Http2Stream | undefined = undefined;
  private readonly unlink: (() => void) | undefined;
  private readonly resolve: (answer: UnaryAnswer) => void;
  private readonly reject: (error: unknown) => void;
  private readonly signal: AbortSignal;
  private readonly hooks: UnaryExchangeHooks<C>;
  private readonly context: C;

  constructor(
    resolve: (answer: UnaryAnswer) => void,
    reject: (error: unknown) => void,
    signal: AbortSignal,
    readMaxBytes: number,
    hooks: UnaryExchangeHooks<C>,
    context: C,
  ) {
    this.resolve = resolve;
    this.reject = reject;
    this.signal = signal;
    this.hooks = hooks;
    this.context = context;
    this.reader = new EnvelopeReader(readMaxBytes);
    // A signal that cannot abort needs no listener (a shared one would collect them forever).
    if (signal !== neverSignal) this.unlink = onAbort(signal, () => this.abort());
  }

  attach(stream: Http2Stream): void {
    this.stream = stream;
    // Settled while the stream was being opened (aborted): nothing is waiting for it.
    if (this.settled) stream.cancel(abortError(this.signal));
  }

  abort(): void {
    const error = abortError(this.signal);
    this.settle(error);
    this.stream?.cancel(error);
  }

  dialFailed(error: unknown): void {
    this.settle(this.hooks.dialFailed(this.context, error));
  }

  onResponse(stream: Http2Stream, headers: Http2Headers, endStream: boolean): void {
    this.head = headers;
    if (endStream) this.status = headers;
    const status = Number(headers[":status"]);
    const contentType = headers["content-type"] ?? "";
    if (!isGrpcAnswer(status, contentType)) {
      const error = this.hooks.notGrpc(this.context, status, contentType);
      this.settle(error);
      stream.cancel(error);
    }
  }

  onData(stream: Http2Stream, buf: Uint8Array, start: number, end: number): void {
    // A peer cannot make us buffer more than the one message it declared, nor one over the limit.
    const error =
      this.message !== undefined
        ? unaryCardinalityError()
        : (this.reader.push(buf, this, start, end) ?? (this.extra ? unaryCardinalityError() : undefined));
    if (error !== undefined) {
      this.settle(error);
      stream.cancel(error);
    }
  }

  onMessage(message: Uint8Array): void {
    if (this.message === undefined) this.message = message;
    else this.extra = true;
  }

  onMessageParts(parts: Uint8Array[]): void {
    if (this.message === undefined) this.message = parts;
    else this.extra = true;
  }

  onTrailers(_stream: Http2Stream, trailers: Http2Headers): void {
    this.trailers = trailers;
    this.status = trailers;
  }

  onClose(_stream: Http2Stream, error: ConnectError | undefined): void {
    if (this.settled) return;
    let failure = error;
    if (failure === undefined && this.head === undefined) {
      failure = new ConnectError("http/2 stream closed before the response headers", Code.Unavailable);
    }
    if (failure !== undefined) {
      this.hooks.failed(this.context, failure);
      this.settle(failure);
      return;
    }
    if (this.reader.pending > 0) {
      this.settle(new ConnectError("protocol error: the answer ended inside its message", Code.Internal));
      return;
    }
    this.settle(undefined);
  }

  private settle(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.unlink?.();
    if (error !== undefined) {
      this.reject(error);
      return;
    }
    this.hooks.answered(this.context);
    this.resolve({
      headers: this.head ?? noHeaders,
      trailers: this.trailers,
      status: this.status,
      message: this.message,
    });
  }
}

// grpc-go's words for a unary answer of more than one message: the server broke the contract.
function unaryCardinalityError(): ConnectError {
  return new ConnectError("protocol error: a unary answer of more than one message", Code.Internal);
}
