import { Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import type { Http2Headers, Http2Stream, Http2StreamHandler } from "@etcd-connect/transport";
import {
  abortError,
  createStreamCall,
  createUnaryCall,
  deadlineKey,
  EnvelopeReader,
  type EnvelopeSink,
  extraHeaders,
  isTransientDialError,
  isUnprocessed,
  neverSignal,
  type OpenStream,
  type SendUnary,
  serverText,
  type UnaryAnswer,
} from "@etcd-connect/transport";
import { maxTimeoutMs } from "../client-options.js";
import { type Attempt, currentAttempt } from "./attempt.js";
import type { EndpointPool, PooledEndpoint } from "./endpoint-pool.js";

/** Options of {@link createBalancedTransport}. */
export interface BalancedTransportOptions {
  pool: EndpointPool;
  /** Interceptors, outermost first; they run once per call, above the endpoint choice. */
  interceptors: Interceptor[];
  /** Largest request message in bytes; larger ones fail before anything is sent. */
  writeMaxBytes: number;
  /** Largest response message in bytes. */
  readMaxBytes: number;
  /** Deadline for unary calls that give none, in ms. Streams never get one. */
  requestTimeoutMs: number | undefined;
  /** Send `hasleader: true` so a member without a leader refuses at once. */
  requireLeader: boolean;
  /** How long a call without a deadline waits for an endpoint to come back, in ms. */
  waitForEndpointMs: number;
  /** Send every call to this endpoint (per-member calls such as Status or Defragment). */
  pin?: string;
  /** The transport of the pool's member check itself: it connects without waiting for the check. */
  checking?: boolean;
}

const hasLeader = ["hasleader", "true"] as const;

function isNeverAborted(signal: AbortSignal): boolean {
  // Signals that cannot abort need no listener (a shared one would collect them forever).
  return signal === neverSignal;
}

function clampTimeout(timeoutMs: number | undefined): number | undefined {
  return timeoutMs === undefined || timeoutMs <= 0 ? timeoutMs : Math.min(Math.ceil(timeoutMs), maxTimeoutMs);
}

/**
 * A Connect gRPC transport over several etcd members. Interceptors run above the choice of
 * endpoint, so each retried attempt can land on another member. Unary requests are
 * serialised before any endpoint is touched: an oversize message fails having sent nothing.
 */
export function createBalancedTransport(options: BalancedTransportOptions): Transport {
  const { pool } = options;

  // Picks (or, when pinned, names) the member for an attempt and makes sure it is connected.
  // Until this returns, nothing was sent.
  async function prepare(
    hasDeadline: boolean,
    callSignal: AbortSignal,
    attempt: Attempt | undefined,
  ): Promise<PooledEndpoint> {
    if (attempt) attempt.progress = "not_sent";
    const signal = isNeverAborted(callSignal) ? undefined : callSignal;
    let entry: PooledEndpoint;
    try {
      // A call with a deadline waits for a member as long as its deadline allows.
      const waitMs = hasDeadline ? Number.POSITIVE_INFINITY : options.waitForEndpointMs;
      entry = options.pin === undefined ? await pool.acquire(signal, waitMs) : pool.pinned(options.pin);
    } catch (error) {
      // Closed, or no endpoint came back within the wait: another attempt cannot do better.
      if (attempt) attempt.permanent = true;
      throw error;
    }
    if (attempt) attempt.endpoint = entry.endpoint.url;
    try {
      await (options.checking ? pool.dial(entry, signal) : pool.connect(entry, signal));
    } catch (error) {
      if (isTransientDialError(error)) pool.reportFailure(entry, error);
      else if (attempt) attempt.permanent = true;
      if (attempt && ConnectError.from(error).code === Code.FailedPrecondition) attempt.permanent = true;
      throw error;
    }
    if (attempt) attempt.progress = "sent";
    return entry;
  }

  function notEtcd(entry: PooledEndpoint, attempt: Attempt | undefined, status: number, contentType: string) {
    if (attempt) attempt.permanent = true;
    return new ConnectError(
      `${entry.endpoint.url} answered but is not an etcd gRPC server (HTTP ${status}, content-type ${serverText(contentType, 64) || "none"})`,
      Code.Unavailable,
    );
  }

  function failed(entry: PooledEndpoint, attempt: Attempt | undefined, error: unknown): void {
    if (attempt && isUnprocessed(error)) attempt.progress = "refused";
    if (isConnectionFailure(error)) pool.reportFailure(entry, error);
  }

  function dialFailed(entry: PooledEndpoint, attempt: Attempt | undefined, error: unknown): ConnectError {
    if (attempt) attempt.progress = "not_sent";
    if (isTransientDialError(error)) pool.reportFailure(entry, error);
    else if (attempt) attempt.permanent = true;
    return ConnectError.from(error, Code.Unavailable);
  }

  const context: UnaryContext = { pool, readMaxBytes: options.readMaxBytes, failed, notEtcd, dialFailed };

  // Streams (watch, keepalive, snapshot) stay on the member they opened on; their health
  // counts for it like a unary call's.
  const openStream: OpenStream = async (req, path, handler) => {
    const attempt = currentAttempt(req.contextValues);
    const entry = await prepare(req.contextValues.get(deadlineKey) !== undefined, req.signal, attempt);
    const extra = extraHeaders(req.header, options.requireLeader ? hasLeader : undefined);
    const watched = new StreamHealth(handler, entry, attempt, context);
    const stream = entry.connection.openStream(path, extra, watched, false, undefined, false);
    if (stream !== undefined) return stream;
    try {
      return await entry.connection.request(path, extra, watched, false, undefined, false);
    } catch (error) {
      throw dialFailed(entry, attempt, error);
    }
  };

  // Unary calls take the lean path: one framed buffer out, one answer in, on our HTTP/2 session.
  const sendUnary: SendUnary = async (req, frame, path) => {
    const attempt = currentAttempt(req.contextValues);
    if (req.signal.aborted) {
      if (attempt) {
        attempt.progress = "not_sent";
        attempt.permanent = true;
      }
      throw abortError(req.signal);
    }
    if (frame.length - 5 > options.writeMaxBytes) {
      // Refused before any connection is touched: nothing was sent, and trying again cannot help.
      if (attempt) {
        attempt.progress = "not_sent";
        attempt.permanent = true;
      }
      throw new ConnectError(
        `message size ${frame.length - 5} is larger than configured writeMaxBytes ${options.writeMaxBytes}`,
        Code.ResourceExhausted,
      );
    }
    // The common case takes no promise: a healthy member with an open connection.
    let entry = options.pin === undefined ? pool.pickReady() : undefined;
    if (entry === undefined) {
      entry = await prepare(req.contextValues.get(deadlineKey) !== undefined, req.signal, attempt);
    } else if (attempt) {
      attempt.endpoint = entry.endpoint.url;
      attempt.progress = "sent";
    }
    const extra = extraHeaders(req.header, options.requireLeader ? hasLeader : undefined);
    return new Promise((resolve, reject) => {
      const exchange = new UnaryExchange(resolve, reject, entry, attempt, req.signal, context);
      // Aborted while a member was awaited: cancel before sending anything.
      if (req.signal.aborted) {
        exchange.abort();
        return;
      }
      const stream = entry.connection.openStream(path, extra, exchange, true, frame, true);
      if (stream !== undefined) exchange.attach(stream);
      else {
        // Dial first and open only if the call is still wanted: an aborted write never goes out.
        entry.connection.connect().then(
          () => {
            if (exchange.settled) return;
            const opened = entry.connection.openStream(path, extra, exchange, true, frame, true);
            if (opened !== undefined) exchange.attach(opened);
            else exchange.dialFailed(new ConnectError(`${entry.endpoint.url} went away`, Code.Unavailable));
          },
          (error: unknown) => exchange.dialFailed(error),
        );
      }
    });
  };

  const unaryCall = createUnaryCall({
    interceptors: options.interceptors,
    send: sendUnary,
  });
  const streamCall = createStreamCall({
    interceptors: options.interceptors,
    readMaxBytes: options.readMaxBytes,
    writeMaxBytes: options.writeMaxBytes,
    open: openStream,
  });
  return {
    unary(method, signal, timeoutMs, header, input, contextValues) {
      const timeout = clampTimeout(timeoutMs ?? options.requestTimeoutMs);
      return unaryCall(method, signal, timeout, header, input, contextValues);
    },
    stream(method, signal, timeoutMs, header, input, contextValues) {
      return streamCall(method, signal, clampTimeout(timeoutMs), header, input, contextValues);
    },
  };
}

// A proxy in front of etcd may answer these while a member is away: Connect maps them to retryable codes.
const gatewayStatuses = new Set([502, 503, 504]);

// An answer from a gRPC server (or a gateway in front of one); anything else is not etcd.
function isGrpcAnswer(status: number, contentType: string): boolean {
  return (status === 200 || gatewayStatuses.has(status)) && contentType.startsWith("application/grpc");
}

// A failure that says something about the member or the connection to it (GOAWAY, a ping that
// timed out, a reset: all Unavailable; a protocol violation: Internal), rather than about the call.
function isConnectionFailure(error: unknown): boolean {
  const code = ConnectError.from(error).code;
  return code === Code.Unavailable || code === Code.Internal;
}

// Reports a stream's outcome to the pool, and refuses answers that are not from etcd.
class StreamHealth implements Http2StreamHandler {
  private readonly inner: Http2StreamHandler;
  private readonly entry: PooledEndpoint;
  private readonly attempt: Attempt | undefined;
  private readonly context: UnaryContext;

  constructor(
    inner: Http2StreamHandler,
    entry: PooledEndpoint,
    attempt: Attempt | undefined,
    context: UnaryContext,
  ) {
    this.inner = inner;
    this.entry = entry;
    this.attempt = attempt;
    this.context = context;
  }

  onResponse(stream: Http2Stream, headers: Http2Headers, endStream: boolean): void {
    const status = Number(headers[":status"]);
    const contentType = headers["content-type"] ?? "";
    if (!isGrpcAnswer(status, contentType)) {
      stream.cancel(this.context.notEtcd(this.entry, this.attempt, status, contentType));
      return;
    }
    this.inner.onResponse(stream, headers, endStream);
  }

  onData(stream: Http2Stream, chunk: Buffer): void {
    this.inner.onData(stream, chunk);
  }

  onTrailers(stream: Http2Stream, trailers: Http2Headers): void {
    this.inner.onTrailers(stream, trailers);
  }

  onClose(stream: Http2Stream, error: ConnectError | undefined): void {
    if (error !== undefined) this.context.failed(this.entry, this.attempt, error);
    else this.context.pool.reportSuccess(this.entry);
    this.inner.onClose(stream, error);
  }
}

interface UnaryContext {
  pool: EndpointPool;
  readMaxBytes: number;
  failed(entry: PooledEndpoint, attempt: Attempt | undefined, error: unknown): void;
  notEtcd(
    entry: PooledEndpoint,
    attempt: Attempt | undefined,
    status: number,
    contentType: string,
  ): ConnectError;
  dialFailed(entry: PooledEndpoint, attempt: Attempt | undefined, error: unknown): ConnectError;
}

const noHeaders: Http2Headers = {};

// One unary call's stream: collects the answer and settles the call once. A class, so a call
// costs one object here and no listeners.
class UnaryExchange implements Http2StreamHandler, EnvelopeSink {
  private head: Http2Headers | undefined = undefined;
  private trailers: Http2Headers = noHeaders;
  private status: Http2Headers | undefined = undefined;
  private readonly reader: EnvelopeReader;
  private message: Uint8Array | undefined = undefined;
  private extra = false;
  settled = false;
  private stream: Http2Stream | undefined = undefined;
  private readonly onAbort: (() => void) | undefined;
  private readonly resolve: (answer: UnaryAnswer) => void;
  private readonly reject: (error: unknown) => void;
  private readonly entry: PooledEndpoint;
  private readonly attempt: Attempt | undefined;
  private readonly signal: AbortSignal;
  private readonly context: UnaryContext;

  constructor(
    resolve: (answer: UnaryAnswer) => void,
    reject: (error: unknown) => void,
    entry: PooledEndpoint,
    attempt: Attempt | undefined,
    signal: AbortSignal,
    context: UnaryContext,
  ) {
    this.resolve = resolve;
    this.reject = reject;
    this.entry = entry;
    this.attempt = attempt;
    this.signal = signal;
    this.context = context;
    this.reader = new EnvelopeReader(context.readMaxBytes);
    if (!isNeverAborted(signal)) {
      this.onAbort = () => this.abort();
      signal.addEventListener("abort", this.onAbort, { once: true });
    }
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
    this.settle(this.context.dialFailed(this.entry, this.attempt, error));
  }

  onResponse(stream: Http2Stream, headers: Http2Headers, endStream: boolean): void {
    this.head = headers;
    if (endStream) this.status = headers;
    const status = Number(headers[":status"]);
    const contentType = headers["content-type"] ?? "";
    if (!isGrpcAnswer(status, contentType)) {
      const error = this.context.notEtcd(this.entry, this.attempt, status, contentType);
      this.settle(error);
      stream.cancel(error);
    }
  }

  onData(stream: Http2Stream, chunk: Buffer): void {
    // The answer is checked as it arrives, so a peer cannot make us buffer more than the one
    // message it declared, and that no larger than readMaxBytes.
    const error =
      this.message !== undefined
        ? unaryCardinalityError()
        : (this.reader.push(chunk, this) ?? (this.extra ? unaryCardinalityError() : undefined));
    if (error !== undefined) {
      this.settle(error);
      stream.cancel(error);
    }
  }

  onMessage(message: Uint8Array): void {
    if (this.message === undefined) this.message = message;
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
      this.context.failed(this.entry, this.attempt, failure);
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
    if (this.onAbort !== undefined) this.signal.removeEventListener("abort", this.onAbort);
    if (error !== undefined) {
      this.reject(error);
      return;
    }
    this.context.pool.reportSuccess(this.entry);
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
