import {
  create,
  type DescMessage,
  type DescMethodStreaming,
  isMessage,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  createContextValues,
  type Interceptor,
  type StreamRequest,
  type StreamResponse,
} from "@connectrpc/connect";
import { codeFromHttpStatus, findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { applyInterceptors, methodPath, startDeadline } from "./call-chain.js";
import { toWebHeaders } from "./http2-headers.js";
import type { Http2Headers, Http2Stream, Http2StreamHandler } from "./http2-stream.js";
import { messageCodec } from "./message-codec.js";
import { abortError, neverSignal } from "./unary-call.js";

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
 * The streaming half of a Connect Transport, on our HTTP/2 streams: request messages are
 * framed and written as the caller produces them, under flow control; response messages are
 * parsed from DATA frames and decoded as the caller reads them, returning window as it goes.
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
    timeoutMs: number | undefined,
    header: HeadersInit | undefined,
    input: AsyncIterable<MessageInitShape<I>>,
    contextValues?: ContextValues,
  ): Promise<StreamResponse<I, O>> {
    const headers = new Headers(header);
    let callSignal = signal ?? neverSignal;
    if (timeoutMs !== undefined && timeoutMs > 0) {
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
      contextValues: contextValues ?? createContextValues(),
      signal: callSignal,
      message: messagesOf(method.input, input),
    };
    try {
      return (await chain(req as unknown as StreamRequest)) as unknown as StreamResponse<I, O>;
    } catch (error) {
      throw callSignal.aborted ? abortError(callSignal) : ConnectError.from(error);
    }
  };
}

async function* messagesOf<I extends DescMessage>(
  desc: I,
  input: AsyncIterable<MessageInitShape<I>>,
): AsyncGenerator<MessageShape<I>> {
  for await (const m of input) yield isMessage(m, desc) ? (m as MessageShape<I>) : create(desc, m);
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
      const r = await it.next();
      if (stream.closed) {
        // The call is over: the producer learns that nothing more is taken.
        if (r.done !== true) await it.return?.();
        return;
      }
      if (r.done === true) {
        stream.write(empty, true);
        return;
      }
      const payload = messageCodec(desc).encode(r.value);
      if (payload.length > writeMaxBytes) {
        stream.cancel(
          new ConnectError(
            `message size ${payload.length} is larger than configured writeMaxBytes ${writeMaxBytes}`,
            Code.ResourceExhausted,
          ),
        );
        await it.return?.();
        return;
      }
      const frame = new Uint8Array(payload.length + 5);
      new DataView(frame.buffer).setUint32(1, payload.length);
      frame.set(payload, 5);
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

interface Envelope {
  data: Uint8Array;
  /** Bytes of flow-control window it used, returned when it is read. */
  size: number;
}

// One streaming call: its response headers, its messages as an async iterable, its trailers.
class StreamCall<O extends DescMessage = DescMessage>
  implements Http2StreamHandler, AsyncIterable<MessageShape<O>>
{
  readonly header = new Headers();
  readonly trailer = new Headers();
  readonly responded: Promise<void>;
  private resolveResponded!: () => void;
  private rejectResponded!: (error: unknown) => void;
  private readonly req: StreamRequest;
  private readonly output: O;
  private readonly readMaxBytes: number;
  private stream: Http2Stream | undefined = undefined;
  private answered = false;
  private trailersOnly = false;
  private partial: Buffer | undefined = undefined;
  private readonly queue: Envelope[] = [];
  private waiter: ((r: IteratorResult<MessageShape<O>>) => void) | undefined = undefined;
  private failWaiter: ((error: unknown) => void) | undefined = undefined;
  private done = false;
  private error: ConnectError | undefined = undefined;
  private readonly onAbort: (() => void) | undefined;

  constructor(req: StreamRequest, readMaxBytes: number) {
    this.req = req;
    this.output = req.method.output as O;
    this.readMaxBytes = readMaxBytes;
    this.responded = new Promise((resolve, reject) => {
      this.resolveResponded = resolve;
      this.rejectResponded = reject;
    });
    // The call's own promise may be abandoned once the stream fails: nothing waits on it then.
    this.responded.catch(() => {});
    const signal = req.signal;
    if (signal !== neverSignal) {
      this.onAbort = () => this.cancel(abortError(signal));
      if (signal.aborted) queueMicrotask(this.onAbort);
      else signal.addEventListener("abort", this.onAbort, { once: true });
    }
  }

  attach(stream: Http2Stream): void {
    this.stream = stream;
    if (this.done && !stream.closed) stream.cancel(this.error ?? new ConnectError("canceled", Code.Canceled));
  }

  private cancel(error: ConnectError): void {
    if (this.stream !== undefined) this.stream.cancel(error);
    else this.finish(error);
  }

  onResponse(stream: Http2Stream, fields: Http2Headers): void {
    toWebHeaders(fields, this.header);
    const status = Number(fields[":status"]);
    if (status !== 200) {
      stream.cancel(new ConnectError(`HTTP ${status}`, codeFromHttpStatus(status), this.header));
      return;
    }
    const contentType = fields["content-type"] ?? "";
    if (!contentType.startsWith("application/grpc")) {
      stream.cancel(new ConnectError(`unsupported content type ${contentType}`, Code.Unknown));
      return;
    }
    if (fields["grpc-status"] !== undefined) {
      // Trailers-only: the call ended before any message; an error fails it right here.
      this.trailersOnly = true;
      const error = findTrailerError(this.header);
      if (error !== undefined) {
        this.finish(error);
        return;
      }
    }
    this.answered = true;
    this.resolveResponded();
  }

  onData(stream: Http2Stream, chunk: Buffer): void {
    let buf = chunk;
    if (this.partial !== undefined) {
      buf = Buffer.concat([this.partial, chunk], this.partial.length + chunk.length);
      this.partial = undefined;
    }
    let off = 0;
    while (buf.length - off >= 5) {
      const length = buf.readUInt32BE(off + 1);
      if (length > this.readMaxBytes) {
        stream.cancel(
          new ConnectError(
            `message size ${length} is larger than configured readMaxBytes ${this.readMaxBytes}`,
            Code.ResourceExhausted,
          ),
        );
        return;
      }
      if (buf.length - off - 5 < length) break;
      if ((buf[off] as number) & 1) {
        stream.cancel(new ConnectError("protocol error: compressed message not accepted", Code.Internal));
        return;
      }
      // A copy: decoded bytes fields are views into it, and must not pin the socket's read buffer.
      const data = new Uint8Array(length);
      data.set(buf.subarray(off + 5, off + 5 + length));
      this.deliver({ data, size: length + 5 });
      off += 5 + length;
    }
    if (off < buf.length) this.partial = Buffer.from(buf.subarray(off));
  }

  onTrailers(_stream: Http2Stream, fields: Http2Headers): void {
    toWebHeaders(fields, this.trailer);
  }

  onClose(_stream: Http2Stream, error: ConnectError | undefined): void {
    if (error !== undefined) {
      this.finish(error);
      return;
    }
    if (this.partial !== undefined) {
      this.finish(new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument));
      return;
    }
    const status = this.trailersOnly ? this.header : this.trailer;
    const failure = findTrailerError(status);
    if (failure !== undefined) {
      this.header.forEach((value, key) => {
        failure.metadata.append(key, value);
      });
      this.finish(failure);
      return;
    }
    if (!status.has("grpc-status")) {
      this.finish(new ConnectError("protocol error: missing status", Code.Internal));
      return;
    }
    this.finish(undefined);
  }

  private deliver(envelope: Envelope): void {
    const waiter = this.waiter;
    if (waiter === undefined) {
      this.queue.push(envelope);
      return;
    }
    this.waiter = undefined;
    this.failWaiter = undefined;
    try {
      waiter({ done: false, value: this.decode(envelope) });
    } catch (error) {
      this.cancel(ConnectError.from(error, Code.Internal));
    }
  }

  private decode(envelope: Envelope): MessageShape<O> {
    this.stream?.consumed(envelope.size);
    return messageCodec(this.output).decode(envelope.data);
  }

  private finish(error: ConnectError | undefined): void {
    if (this.done) return;
    this.done = true;
    this.error = error;
    if (this.onAbort !== undefined) this.req.signal.removeEventListener("abort", this.onAbort);
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

  [Symbol.asyncIterator](): AsyncIterator<MessageShape<O>> {
    return {
      next: () => {
        const envelope = this.queue.shift();
        if (envelope !== undefined) {
          try {
            return Promise.resolve({ done: false, value: this.decode(envelope) });
          } catch (error) {
            const failure = ConnectError.from(error, Code.Internal);
            this.cancel(failure);
            return Promise.reject(failure);
          }
        }
        if (this.done) {
          return this.error !== undefined
            ? Promise.reject(this.error)
            : Promise.resolve({ done: true, value: undefined });
        }
        return new Promise((resolve, reject) => {
          this.waiter = resolve;
          this.failWaiter = reject;
        });
      },
      return: () => {
        // The reader stopped early: the call is cancelled, as with Connect's transport.
        if (!this.done) this.cancel(new ConnectError("the reader stopped reading the stream", Code.Canceled));
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }
}
