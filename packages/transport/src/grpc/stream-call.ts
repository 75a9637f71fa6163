import type { DescMessage, DescMethodStreaming, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  createContextValues,
  type Interceptor,
  type StreamRequest,
  type StreamResponse,
} from "@connectrpc/connect";
import { codeFromHttpStatus } from "@connectrpc/connect/protocol-grpc";
import { copyBytes } from "../codec/byte-slab.js";
import { type MessageCodec, messageCodec } from "../codec/message-codec.js";
import { toWebHeaders } from "../http2/headers.js";
import { serverText } from "../http2/server-text.js";
import type { Http2Headers, Http2Stream, Http2StreamHandler } from "../http2/stream.js";
import { ByteBacklog } from "./byte-backlog.js";
import {
  applyInterceptors,
  clampTimeoutMs,
  deadlineKey,
  methodPath,
  startDeadline,
  statusAfterDeadline,
} from "./call-chain.js";
import { encodeEnveloped, envelopeHeaderBytes } from "./envelope.js";
import { EnvelopeReader, type EnvelopeSink } from "./envelope-reader.js";
import { MessageSizeError } from "./message-size-error.js";
import { onAbort } from "./on-abort.js";
import { type PollableIterator, poll, pollSymbol } from "./pollable-iterator.js";
import { RequestMessages } from "./request-messages.js";
import { grpcStatus } from "./status.js";
import { abortError, callError, neverSignal } from "./unary-call.js";

/** Opens the HTTP/2 stream of one streaming call on some member (balancing lives there). */
export type OpenStream = (
  req: StreamRequest,
  path: string,
  handler: Http2StreamHandler,
) => Promise<Http2Stream>;

/** Options of {@link createStreamCall}. */
export interface StreamCallOptions {
  interceptors: Interceptor[];
  /** Largest response message in bytes. */
  readMaxBytes: number;
  /** Largest request message in bytes; a larger one fails the call. */
  writeMaxBytes: number;
  open: OpenStream;
}

const empty = new Uint8Array(0);

/**
 * DATA kept for a reader that fell behind is cut into messages this much at a time, as it reads:
 * a DATA frame's worth, so the messages cut ahead of the reader are at most 3,276 (empty ones).
 */
const backlogPiece = 16 << 10;

/**
 * The streaming half of a Connect Transport, on our HTTP/2 streams: request messages are
 * framed and written as the caller produces them, under flow control; response messages are
 * parsed from DATA frames and decoded as the caller reads them.
 *
 * Flow control: window is returned at once for the bytes of a message still being assembled, so
 * a message of any size up to `readMaxBytes` arrives whatever the stream window (etcd sends a
 * watch catch-up in messages of many MiB), and held back only while complete messages wait for
 * the reader: a reader that falls behind holds up its server, not our memory. What arrives
 * while messages wait is kept as bytes and cut into messages only as the reader gets to them, so
 * it costs its bytes (at most the window) and not an object per message: 4 MiB of small watch
 * answers would be some 70,000 of them.
 * Interceptors see the same StreamRequest and StreamResponse as with Connect's own transport.
 */
export function createStreamCall(options: StreamCallOptions) {
  const { readMaxBytes, writeMaxBytes } = options;

  const next = async (req: StreamRequest): Promise<StreamResponse> => {
    const method = req.method;
    const call = new StreamCall(req, readMaxBytes);
    const stream = await options.open(req, methodPath(method), call);
    stream.manualWindow = true;
    call.attach(stream);
    if (!stream.closed) void pump(req.message, method.input, stream, writeMaxBytes);
    await call.responded;
    return {
      stream: true,
      service: req.service,
      method,
      header: call.header,
      trailer: call.trailer,
      message: call,
    };
  };
  const chain = applyInterceptors(options.interceptors, next);

  return async function stream<I extends DescMessage, O extends DescMessage>(
    method: DescMethodStreaming<I, O>,
    signal: AbortSignal | undefined,
    requestedTimeoutMs: number | undefined,
    header: HeadersInit | undefined,
    input: AsyncIterable<MessageInitShape<I>>,
    contextValues?: ContextValues,
  ): Promise<StreamResponse<I, O>> {
    const headers = new Headers(header);
    const values = contextValues ?? createContextValues();
    // A deadline gRPC cannot carry (fractional, or past 8 digits) would make an invalid header.
    const timeoutMs = clampTimeoutMs(requestedTimeoutMs);
    let callSignal = signal ?? neverSignal;
    if (timeoutMs !== undefined && timeoutMs > 0) {
      values.set(deadlineKey, Date.now() + timeoutMs);
      // Streams get a deadline only when the caller asks for one; it bounds the whole stream,
      // which outlives this function, so the timer is left to run (unreferenced).
      const { controller, timer } = startDeadline(headers, timeoutMs);
      timer.unref();
      callSignal = signal === undefined ? controller.signal : AbortSignal.any([signal, controller.signal]);
    }
    const req: StreamRequest<I, O> = {
      stream: true,
      service: method.parent,
      method,
      requestMethod: "POST",
      url: "",
      header: headers,
      contextValues: values,
      signal: callSignal,
      message: new RequestMessages(method.input, input),
    };
    try {
      return (await chain(req as unknown as StreamRequest)) as unknown as StreamResponse<I, O>;
    } catch (error) {
      throw callError(error, callSignal);
    }
  };
}

// Writes the request messages as the caller produces them; ends our side when they end.
async function pump(
  messages: AsyncIterable<MessageShape<DescMessage>>,
  desc: DescMessage,
  stream: Http2Stream,
  writeMaxBytes: number,
): Promise<void> {
  const it = messages[Symbol.asyncIterator]();
  try {
    for (;;) {
      // What the caller has already queued is written in one go, without a promise each.
      const r = poll(it) ?? (await it.next());
      if (stream.closed) {
        // The call is over: the producer learns that nothing more is taken.
        if (r.done !== true) await it.return?.();
        return;
      }
      if (r.done === true) {
        stream.write(empty, true);
        return;
      }
      const frame = encodeEnveloped(desc, r.value);
      const size = frame.length - envelopeHeaderBytes;
      if (size > writeMaxBytes) {
        stream.cancel(new MessageSizeError("write", size, writeMaxBytes));
        await it.return?.();
        return;
      }
      if (!stream.write(frame, false)) {
        await new Promise<void>((resolve) => {
          stream.onDrain = resolve;
        });
      }
    }
  } catch (error) {
    stream.cancel(ConnectError.from(error));
  }
}

// One streaming call: its response headers, its messages as an async iterable, its trailers.
class StreamCall<O extends DescMessage = DescMessage>
  implements Http2StreamHandler, EnvelopeSink, AsyncIterable<MessageShape<O>>
{
  readonly header = new Headers();
  readonly trailer = new Headers();
  readonly responded: Promise<void>;
  private resolveResponded!: () => void;
  private rejectResponded!: (error: unknown) => void;
  private readonly codec: MessageCodec<O>;
  private readonly reader: EnvelopeReader;
  private stream: Http2Stream | undefined = undefined;
  private answered = false;
  private responseFields: Http2Headers | undefined = undefined;
  // Where the status is: the trailers, or the headers of a trailers-only answer.
  private statusFields: Http2Headers | undefined = undefined;
  // Bytes received and not yet returned to the stream's window.
  private held = 0;
  // Complete messages the reader has not taken: those of one DATA frame or backlog piece at most.
  // Their bytes, or the messages themselves when `decodeOnArrival`.
  private readonly queue: Array<Uint8Array | Uint8Array[] | MessageShape<O>> = [];
  // The codec's messages cannot hold views of their bytes (a keepalive answer): one that waits
  // for the reader waits decoded, so it neither pins the socket's read or the backlog's buffer
  // nor needs a copy of its own.
  private readonly decodeOnArrival: boolean;
  // DATA that arrived while messages waited, not yet cut into messages.
  private readonly backlog = new ByteBacklog();
  // The server ended the stream while DATA waited in the backlog: its status, judged when it
  // came (the deadline is read then), is delivered once the backlog is read.
  private endPending: { readonly status: ConnectError | undefined } | undefined = undefined;
  private waiter: ((r: IteratorResult<MessageShape<O>>) => void) | undefined = undefined;
  private failWaiter: ((error: unknown) => void) | undefined = undefined;
  private done = false;
  private error: ConnectError | undefined = undefined;
  private unlink: (() => void) | undefined = undefined;
  private readonly deadline: number | undefined;

  constructor(req: StreamRequest, readMaxBytes: number) {
    this.codec = messageCodec(req.method.output as O);
    this.decodeOnArrival = !this.codec.holdsInputViews;
    this.deadline = req.contextValues.get(deadlineKey);
    this.reader = new EnvelopeReader(readMaxBytes);
    this.responded = new Promise((resolve, reject) => {
      this.resolveResponded = resolve;
      this.rejectResponded = reject;
    });
    // The call's own promise may be abandoned once the stream fails: nothing waits on it then.
    this.responded.catch(() => {});
    const signal = req.signal;
    if (signal !== neverSignal) {
      const cancel = () => this.cancel(abortError(signal));
      if (signal.aborted) queueMicrotask(cancel);
      else this.unlink = onAbort(signal, cancel);
    }
  }

  attach(stream: Http2Stream): void {
    this.stream = stream;
    this.returnWindow();
    if (this.done && !stream.closed) stream.cancel(this.error ?? new ConnectError("canceled", Code.Canceled));
  }

  private cancel(error: ConnectError): void {
    // A stream the server ended while its DATA waits for the reader has nothing left to reset.
    if (this.stream !== undefined && !this.stream.closed) this.stream.cancel(error);
    else this.finish(error);
  }

  onResponse(stream: Http2Stream, fields: Http2Headers, endStream: boolean): void {
    toWebHeaders(fields, this.header);
    this.responseFields = fields;
    const status = Number(fields[":status"]);
    if (status !== 200) {
      stream.cancel(new ConnectError(`HTTP ${status}`, codeFromHttpStatus(status), this.header));
      return;
    }
    const contentType = fields["content-type"] ?? "";
    if (!contentType.startsWith("application/grpc")) {
      stream.cancel(
        new ConnectError(`unsupported content type ${serverText(contentType, 64)}`, Code.Unknown),
      );
      return;
    }
    if (endStream) {
      // Trailers-only: the call ended before any message; an error fails it right here.
      this.statusFields = fields;
      const error = grpcStatus(fields, fields);
      if (error !== undefined) {
        this.finish(statusAfterDeadline(error, this.deadline));
        return;
      }
    }
    this.answered = true;
    this.resolveResponded();
  }

  onData(stream: Http2Stream, buf: Uint8Array, start: number, end: number): void {
    this.held += end - start;
    if (this.queue.length > 0 || this.backlog.size > 0) {
      this.backlog.append(buf, start, end);
      return;
    }
    const error = this.reader.push(buf, this, start, end);
    if (error !== undefined) {
      stream.cancel(error);
      return;
    }
    this.returnWindow();
  }

  onMessage(message: Uint8Array, owned: boolean): void {
    // Past a message that could not be decoded (or any other end), nothing more is taken.
    if (this.done) return;
    // Decoded bytes fields are views into the message, so a view into the socket's read is
    // copied (a key the caller keeps must not pin the read buffer), unless the message type has
    // no bytes field to keep: a lease keepalive answer is decoded straight from the read.
    this.arrived(owned || this.decodeOnArrival ? message : copyBytes(message));
  }

  // A large message as views of the reads it came in: decoded from them, never copied (a key
  // kept from it pins one read, see EnvelopeReader).
  onMessageParts(parts: Uint8Array[]): void {
    if (!this.done) this.arrived(parts);
  }

  private arrived(message: Uint8Array | Uint8Array[]): void {
    const waiter = this.waiter;
    if (waiter === undefined) {
      if (this.decodeOnArrival) {
        const value = this.decodeArrived(message);
        if (value !== undefined) this.queue.push(value);
      } else {
        this.queue.push(message);
      }
      return;
    }
    const value = this.decodeArrived(message);
    // Undefined: the call failed, and the waiter heard it from `finish`.
    if (value === undefined) return;
    this.waiter = undefined;
    this.failWaiter = undefined;
    waiter({ done: false, value });
  }

  // Decodes a message as it arrives; undefined when it cannot be, and the call then fails: the
  // messages before it are still handed out, none after it.
  private decodeArrived(bytes: Uint8Array | Uint8Array[]): MessageShape<O> | undefined {
    try {
      return this.decode(bytes);
    } catch (error) {
      this.failDecode(error);
      return undefined;
    }
  }

  private decode(bytes: Uint8Array | Uint8Array[]): MessageShape<O> {
    return Array.isArray(bytes) ? this.codec.decodeParts(bytes) : this.codec.decode(bytes);
  }

  // A message that cannot be decoded ends the call with Internal; what arrived after it (the
  // rest of the backlog, and the queue when the failed message was at its head) is dropped.
  private failDecode(error: unknown, dropQueued = false): ConnectError {
    const failure = ConnectError.from(error, Code.Internal);
    if (dropQueued) this.queue.length = 0;
    this.backlog.clear();
    this.endPending = undefined;
    this.cancel(failure);
    return failure;
  }

  // Returns window for everything received once nothing waits for the reader.
  private returnWindow(): void {
    if (this.queue.length > 0 || this.backlog.size > 0 || this.held === 0 || this.stream === undefined)
      return;
    this.stream.consumed(this.held);
    this.held = 0;
  }

  onTrailers(_stream: Http2Stream, fields: Http2Headers): void {
    this.statusFields = fields;
    toWebHeaders(fields, this.trailer);
  }

  onClose(_stream: Http2Stream, error: ConnectError | undefined): void {
    if (error !== undefined) {
      this.finish(error);
      return;
    }
    const status = grpcStatus(this.statusFields, this.responseFields);
    const end = status === undefined ? undefined : statusAfterDeadline(status, this.deadline);
    if (this.backlog.size > 0) {
      // Whether the stream ended inside a message shows once the backlog is cut. The caller's
      // signal can no longer cancel what the server has ended.
      this.endPending = { status: end };
      this.unlink?.();
      this.unlink = undefined;
      return;
    }
    this.ended(end);
  }

  // The server ended the stream with `status`, and everything it sent has been cut into messages.
  private ended(status: ConnectError | undefined): void {
    if (this.reader.pending > 0) {
      this.finish(new ConnectError("protocol error: the stream ended inside a message", Code.Internal));
      return;
    }
    this.finish(status);
  }

  // What the reader can have now: the next message, or the end; undefined when it has to wait.
  // Throws what `next()` rejects with.
  private ready(): IteratorResult<MessageShape<O>> | undefined {
    if (this.queue.length === 0 && this.backlog.size > 0) this.readBacklog();
    const item = this.queue.shift();
    if (item !== undefined) {
      if (this.queue.length === 0) this.returnWindow();
      if (this.decodeOnArrival) return { done: false, value: item as MessageShape<O> };
      try {
        return { done: false, value: this.decode(item as Uint8Array | Uint8Array[]) };
      } catch (error) {
        // Thrown here, not left to `finish`: the server may have ended the call already.
        throw this.failDecode(error, true);
      }
    }
    if (!this.done) return undefined;
    if (this.error !== undefined) throw this.error;
    return { done: true, value: undefined };
  }

  // Cuts the backlog into messages until one is complete or the backlog is read.
  private readBacklog(): void {
    while (this.queue.length === 0 && this.backlog.size > 0) {
      const error = this.reader.push(this.backlog.take(backlogPiece), this);
      if (error !== undefined) {
        this.backlog.clear();
        this.cancel(error);
        return;
      }
    }
    if (this.backlog.size > 0) return;
    const end = this.endPending;
    if (end !== undefined) {
      this.endPending = undefined;
      this.ended(end.status);
    }
    this.returnWindow();
  }

  private finish(error: ConnectError | undefined): void {
    if (this.done) return;
    this.done = true;
    this.error = error;
    this.unlink?.();
    if (!this.answered) {
      this.rejectResponded(
        error ?? new ConnectError("protocol error: stream ended before its headers", Code.Internal),
      );
      return;
    }
    if (this.queue.length > 0) return;
    const waiter = this.waiter;
    const failWaiter = this.failWaiter;
    this.waiter = undefined;
    this.failWaiter = undefined;
    if (error !== undefined) failWaiter?.(error);
    else waiter?.({ done: true, value: undefined });
  }

  [Symbol.asyncIterator](): PollableIterator<MessageShape<O>> {
    return {
      next: () => {
        let result: IteratorResult<MessageShape<O>> | undefined;
        try {
          result = this.ready();
        } catch (error) {
          return Promise.reject(error);
        }
        if (result !== undefined) return Promise.resolve(result);
        return new Promise((resolve, reject) => {
          this.waiter = resolve;
          this.failWaiter = reject;
        });
      },
      [pollSymbol]: () => this.ready(),
      return: () => {
        // The reader stopped early: the call is cancelled, as with Connect's transport.
        if (!this.done) this.cancel(new ConnectError("the reader stopped reading the stream", Code.Canceled));
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }
}
