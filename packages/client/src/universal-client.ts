import { Code, ConnectError } from "@connectrpc/connect";
import type { UniversalClientFn, UniversalClientResponse } from "@connectrpc/connect/protocol";
import type { Http2Connection } from "./http2-connection.js";
import type { Http2Headers, Http2Stream, Http2StreamHandler } from "./http2-session.js";

// Sent by the session for every stream; a caller's copy would repeat them.
const fixedHeaders = new Set(["content-type", "te", "user-agent"]);

/** A request's metadata as extra header fields for {@link Http2Connection.openStream}. */
export function extraHeaders(
  header: Headers,
  more?: readonly [string, string],
): Array<[string, string]> | undefined {
  const extra: Array<[string, string]> = [];
  header.forEach((value, key) => {
    if (!fixedHeaders.has(key)) extra.push([key, value]);
  });
  if (more !== undefined) extra.push([more[0], more[1]]);
  return extra.length > 0 ? extra : undefined;
}

/**
 * Response header fields as Fetch `Headers`, pseudo-headers left out. Fields that Fetch refuses
 * (a name with a space, a value with a control character: HPACK carries them) are dropped
 * rather than thrown from the socket's read.
 */
export function toWebHeaders(fields: Http2Headers, into = new Headers()): Headers {
  for (const key in fields) {
    if (key.charCodeAt(0) === 58 /* ':' */) continue;
    try {
      into.append(key, fields[key] as string);
    } catch {
      // Not a valid HTTP field; gRPC metadata never needs one.
    }
  }
  return into;
}

/**
 * Connect's HTTP client interface on an {@link Http2Connection}, for streaming calls (watch,
 * lease keepalive, snapshot): the request body is written as it comes, under HTTP/2 flow
 * control, and the response body is read with backpressure (window returned as it is read).
 */
export function createUniversalClient(connection: Http2Connection): UniversalClientFn {
  return (req) => {
    const path = new URL(req.url).pathname;
    return new Promise<UniversalClientResponse>((resolve, reject) => {
      const exchange = new StreamExchange(resolve, reject, req.signal);
      if (req.signal?.aborted) {
        reject(abortReason(req.signal));
        return;
      }
      const extra = extraHeaders(req.header);
      const opened = (stream: Http2Stream) => {
        stream.manualWindow = true;
        exchange.attach(stream);
        if (req.body !== undefined && !stream.closed) void pump(req.body, stream);
      };
      const now = connection.openStream(path, extra, exchange, false, undefined, req.body === undefined);
      if (now !== undefined) opened(now);
      else
        connection
          .request(path, extra, exchange, false, undefined, req.body === undefined)
          .then(opened, (error: unknown) => exchange.dialFailed(error));
    });
  };
}

function abortReason(signal: AbortSignal): ConnectError {
  return ConnectError.from(signal.reason, Code.Canceled);
}

// Writes the request body as connect produces it; when the stream is gone, tells the body so.
async function pump(body: AsyncIterable<Uint8Array>, stream: Http2Stream): Promise<void> {
  const it = body[Symbol.asyncIterator]();
  try {
    for (;;) {
      const r = await it.next();
      if (stream.closed) {
        if (r.done !== true) await it.return?.();
        return;
      }
      if (r.done === true) {
        stream.write(new Uint8Array(0), true);
        return;
      }
      if (!stream.write(r.value, false)) {
        await new Promise<void>((resolve) => {
          stream.onDrain = resolve;
        });
      }
    }
  } catch (error) {
    stream.cancel(ConnectError.from(error));
  }
}

class StreamExchange implements Http2StreamHandler {
  private stream: Http2Stream | undefined = undefined;
  private readonly chunks: Buffer[] = [];
  private waiter: ((r: IteratorResult<Uint8Array>) => void) | undefined = undefined;
  private failWaiter: ((error: unknown) => void) | undefined = undefined;
  private done = false;
  private error: ConnectError | undefined = undefined;
  private responded = false;
  private readonly trailer = new Headers();
  private readonly onAbort: (() => void) | undefined;
  private readonly resolve: (res: UniversalClientResponse) => void;
  private readonly reject: (error: unknown) => void;
  private readonly signal: AbortSignal | undefined;

  constructor(
    resolve: (res: UniversalClientResponse) => void,
    reject: (error: unknown) => void,
    signal: AbortSignal | undefined,
  ) {
    this.resolve = resolve;
    this.reject = reject;
    this.signal = signal;
    if (signal !== undefined) {
      this.onAbort = () => {
        const error = abortReason(signal);
        if (this.stream !== undefined) this.stream.cancel(error);
        else this.fail(error);
      };
      signal.addEventListener("abort", this.onAbort, { once: true });
    }
  }

  dialFailed(error: unknown): void {
    this.fail(ConnectError.from(error, Code.Unavailable));
  }

  attach(stream: Http2Stream): void {
    this.stream = stream;
    if (this.signal?.aborted) stream.cancel(abortReason(this.signal));
  }

  onResponse(_stream: Http2Stream, headers: Http2Headers): void {
    this.responded = true;
    this.resolve({
      status: Number(headers[":status"]),
      header: toWebHeaders(headers),
      body: { [Symbol.asyncIterator]: () => this.iterator() },
      trailer: this.trailer,
    });
  }

  onData(stream: Http2Stream, chunk: Buffer): void {
    const waiter = this.waiter;
    if (waiter !== undefined) {
      this.waiter = undefined;
      this.failWaiter = undefined;
      stream.consumed(chunk.length);
      waiter({ done: false, value: chunk });
      return;
    }
    this.chunks.push(chunk);
  }

  onTrailers(_stream: Http2Stream, trailers: Http2Headers): void {
    toWebHeaders(trailers, this.trailer);
  }

  onClose(_stream: Http2Stream, error: ConnectError | undefined): void {
    if (error === undefined && !this.responded) {
      this.fail(new ConnectError("http/2 stream closed before the response headers", Code.Unavailable));
      return;
    }
    this.fail(error);
  }

  private fail(error: ConnectError | undefined): void {
    if (this.done) return;
    this.done = true;
    this.error = error;
    if (this.onAbort !== undefined) this.signal?.removeEventListener("abort", this.onAbort);
    if (!this.responded) {
      this.reject(error);
      return;
    }
    const waiter = this.waiter;
    const failWaiter = this.failWaiter;
    this.waiter = undefined;
    this.failWaiter = undefined;
    if (error !== undefined) failWaiter?.(error);
    else waiter?.({ done: true, value: undefined });
  }

  private abandon(error: ConnectError): void {
    if (this.done) return;
    if (this.stream !== undefined) this.stream.cancel(error);
    else this.fail(error);
  }

  private iterator(): AsyncIterator<Uint8Array> {
    return {
      next: () => {
        const chunk = this.chunks.shift();
        if (chunk !== undefined) {
          this.stream?.consumed(chunk.length);
          return Promise.resolve({ done: false, value: chunk });
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
        this.abandon(new ConnectError("response body abandoned", Code.Canceled));
        return Promise.resolve({ done: true, value: undefined });
      },
      // Connect's pipeline ends a body it gives up on (a call that fails) with throw.
      throw: (error: unknown) => {
        this.abandon(ConnectError.from(error, Code.Canceled));
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }
}
