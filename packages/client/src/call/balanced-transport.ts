import {
  Code,
  ConnectError,
  type ContextValues,
  type Interceptor,
  type Transport,
  type UnaryRequest,
} from "@connectrpc/connect";
import type { Http2Headers, Http2Stream, Http2StreamHandler } from "@etcd-connect/transport";
import {
  abortError,
  createStreamCall,
  createUnaryCall,
  deadlineKey,
  envelopeHeaderBytes,
  extraHeaders,
  isGrpcAnswer,
  isTransientDialError,
  isUnprocessed,
  MessageSizeError,
  NotGrpcServerError,
  neverSignal,
  type OpenStream,
  openUnary,
  type SendUnary,
  serverText,
  type UnaryAnswer,
  UnaryExchange,
  type UnaryExchangeHooks,
} from "@etcd-connect/transport";
import { requireLeaderKey } from "../call-options.js";
import { type Attempt, currentAttempt } from "./attempt.js";
import type { EndpointPool, PooledEndpoint } from "./endpoint-pool.js";
import { unaryTimeoutMs } from "./waits-for-others.js";

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
  /**
   * Send `hasleader: true` so a member without a leader refuses at once; a call's own
   * `requireLeaderKey` in its `contextValues` overrides it.
   */
  requireLeader: boolean;
  /** How long a call without a deadline waits for an endpoint to come back, in ms. */
  waitForEndpointMs: number;
  /** Send every call to this endpoint (per-member calls such as Status or Defragment). */
  pin?: string;
  /** The transport of the pool's member check itself: it connects without waiting for the check. */
  checking?: boolean;
}

const hasLeader = ["hasleader", "true"] as const;

// The `hasleader` header a call gets: its own choice when it made one, else the client's. One
// property lookup per call; nothing is allocated.
function leaderHeader(req: { contextValues: ContextValues }, byDefault: boolean) {
  return (req.contextValues.get(requireLeaderKey) ?? byDefault) ? hasLeader : undefined;
}

function isNeverAborted(signal: AbortSignal): boolean {
  // Signals that cannot abort need no listener (a shared one would collect them forever).
  return signal === neverSignal;
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
      entry =
        options.pin === undefined
          ? await pool.acquire(signal, waitMs, attempt?.avoid)
          : pool.pinned(options.pin);
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
    return new NotGrpcServerError(
      `${entry.endpoint.url} answered but is not an etcd gRPC server (HTTP ${status}, content-type ${serverText(contentType, 64) || "none"})`,
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

  // One hooks object for every call; each call passes its own target.
  const hooks: UnaryExchangeHooks<CallTarget> = {
    notGrpc: (t, status, contentType) => notEtcd(t.entry, t.attempt, status, contentType),
    failed: (t, error) => failed(t.entry, t.attempt, error),
    answered: (t) => pool.reportSuccess(t.entry),
    dialFailed: (t, error) => dialFailed(t.entry, t.attempt, error),
  };

  // Streams (watch, keepalive, snapshot) stay on the member they opened on; their health
  // counts for it like a unary call's.
  const openStream: OpenStream = async (req, path, handler) => {
    const attempt = currentAttempt(req.contextValues);
    const entry = await prepare(req.contextValues.get(deadlineKey) !== undefined, req.signal, attempt);
    const extra = extraHeaders(req.header, leaderHeader(req, options.requireLeader));
    const watched = new StreamHealth(handler, hooks, { entry, attempt });
    const stream = entry.connection.openStream({ path, extra }, watched);
    if (stream !== undefined) return stream;
    try {
      return await entry.connection.request({ path, extra }, watched);
    } catch (error) {
      throw dialFailed(entry, attempt, error);
    }
  };

  // Unary calls take the lean path: one framed buffer out, one answer in, on our HTTP/2 session.
  // Not an async function: one returning the exchange's promise would add a promise and two
  // microtask turns to every call.
  const sendUnary: SendUnary = (req, frame, path) => {
    const attempt = currentAttempt(req.contextValues);
    if (req.signal.aborted) {
      if (attempt) {
        attempt.progress = "not_sent";
        attempt.permanent = true;
      }
      return Promise.reject(abortError(req.signal));
    }
    const size = frame.length - envelopeHeaderBytes;
    if (size > options.writeMaxBytes) {
      // Refused before any connection is touched: nothing was sent, and trying again cannot help.
      if (attempt) {
        attempt.progress = "not_sent";
        attempt.permanent = true;
      }
      return Promise.reject(new MessageSizeError("write", size, options.writeMaxBytes));
    }
    // The common case takes no promise: a healthy member with an open connection.
    const entry = options.pin === undefined ? pool.pickReady() : undefined;
    if (entry === undefined) {
      return prepare(req.contextValues.get(deadlineKey) !== undefined, req.signal, attempt).then((ready) =>
        exchange(req, frame, path, ready, attempt),
      );
    }
    if (attempt) {
      attempt.endpoint = entry.endpoint.url;
      attempt.progress = "sent";
    }
    return exchange(req, frame, path, entry, attempt);
  };

  function exchange(
    req: UnaryRequest,
    frame: Uint8Array,
    path: string,
    entry: PooledEndpoint,
    attempt: Attempt | undefined,
  ): Promise<UnaryAnswer> {
    const extra = extraHeaders(req.header, leaderHeader(req, options.requireLeader));
    return new Promise((resolve, reject) => {
      const target: CallTarget = { entry, attempt };
      const exchange = new UnaryExchange(resolve, reject, req.signal, options.readMaxBytes, hooks, target);
      // Aborted while a member was awaited: cancel before sending anything.
      if (req.signal.aborted) {
        exchange.abort();
        return;
      }
      const retrySafe = attempt?.retrySafe === true;
      openUnary(
        entry.connection,
        { path, extra, probe: true, retrySafe, body: frame, end: true },
        exchange,
        () => {
          return new ConnectError(`${entry.endpoint.url} went away`, Code.Unavailable);
        },
      );
    });
  }

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
      const timeout = unaryTimeoutMs(method, timeoutMs, options.requestTimeoutMs);
      return unaryCall(method, signal, timeout, header, input, contextValues);
    },
    stream(method, signal, timeoutMs, header, input, contextValues) {
      return streamCall(method, signal, timeoutMs, header, input, contextValues);
    },
  };
}

// A failure that says something about the member or the connection to it (GOAWAY, a ping that
// timed out, a reset: all Unavailable; a protocol violation: Internal), rather than about the call.
function isConnectionFailure(error: unknown): boolean {
  const code = ConnectError.from(error).code;
  return code === Code.Unavailable || code === Code.Internal;
}

// The member a call went to, and its attempt record.
interface CallTarget {
  readonly entry: PooledEndpoint;
  readonly attempt: Attempt | undefined;
}

// Reports a stream's outcome to the pool, and refuses answers that are not from etcd.
class StreamHealth implements Http2StreamHandler {
  private readonly inner: Http2StreamHandler;
  private readonly hooks: UnaryExchangeHooks<CallTarget>;
  private readonly target: CallTarget;

  constructor(inner: Http2StreamHandler, hooks: UnaryExchangeHooks<CallTarget>, target: CallTarget) {
    this.inner = inner;
    this.hooks = hooks;
    this.target = target;
  }

  onResponse(stream: Http2Stream, headers: Http2Headers, endStream: boolean): void {
    const status = Number(headers[":status"]);
    const contentType = headers["content-type"] ?? "";
    if (!isGrpcAnswer(status, contentType)) {
      stream.cancel(this.hooks.notGrpc(this.target, status, contentType));
      return;
    }
    this.inner.onResponse(stream, headers, endStream);
  }

  onData(stream: Http2Stream, buf: Uint8Array, start: number, end: number): void {
    this.inner.onData(stream, buf, start, end);
  }

  onTrailers(stream: Http2Stream, trailers: Http2Headers): void {
    this.inner.onTrailers(stream, trailers);
  }

  onClose(stream: Http2Stream, error: ConnectError | undefined): void {
    if (error !== undefined) this.hooks.failed(this.target, error);
    else this.hooks.answered(this.target);
    this.inner.onClose(stream, error);
  }
}
