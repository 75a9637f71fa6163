import { Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import type {
  UniversalClientFn,
  UniversalClientRequest,
  UniversalClientResponse,
} from "@connectrpc/connect/protocol";
import { createTransport } from "@connectrpc/connect/protocol-grpc";
import { maxTimeoutMs } from "./client-options.js";
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
}

/** What one attempt of a call did; read by the retry interceptor. */
export interface Attempt {
  /** The endpoint the attempt was sent to, once chosen. */
  endpoint: string | undefined;
  /**
   * True while nothing can have reached a server. Starts false: only a transport that can
   * prove a request stayed home (this one) sets it, so other transports never get blind retries.
   */
  neverSent: boolean;
  /** True when trying again cannot help (oversize request, TLS or protocol failure). */
  permanent: boolean;
}

// The request's Headers object flows unchanged from the interceptors to the HTTP client,
// so it keys the attempt record without widening Connect's types.
const attempts = new WeakMap<Headers, Attempt>();

/** Starts a fresh attempt record for a request header; see {@link Attempt}. */
export function beginAttempt(header: Headers): Attempt {
  const attempt: Attempt = { endpoint: undefined, neverSent: false, permanent: false };
  attempts.set(header, attempt);
  return attempt;
}

const placeholderOrigin = "http://etcd";

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
  const common = {
    baseUrl: placeholderOrigin,
    useBinaryFormat: true,
    interceptors: options.interceptors,
    acceptCompression: [],
    sendCompression: null,
    compressMinBytes: Number.MAX_SAFE_INTEGER,
    readMaxBytes: options.readMaxBytes,
    writeMaxBytes: options.writeMaxBytes,
  };

  async function dispatch(
    req: UniversalClientRequest,
    body: AsyncIterable<Uint8Array> | undefined,
  ): Promise<UniversalClientResponse> {
    const attempt = attempts.get(req.header);
    if (attempt) attempt.neverSent = true;
    if (options.requireLeader) req.header.set("hasleader", "true");
    let entry: PooledEndpoint;
    try {
      // A call with a deadline waits for a member as long as its deadline allows.
      const waitMs = req.header.has("grpc-timeout") ? Number.POSITIVE_INFINITY : options.waitForEndpointMs;
      entry = options.pin === undefined ? await pool.acquire(req.signal, waitMs) : pool.pinned(options.pin);
    } catch (error) {
      // Closed, or no endpoint came back within the wait: another attempt cannot do better.
      if (attempt) attempt.permanent = true;
      throw error;
    }
    if (attempt) attempt.endpoint = entry.endpoint.url;
    try {
      await pool.connect(entry, req.signal);
    } catch (error) {
      if (pool.isTransientDialError(error)) pool.reportFailure(entry, error);
      else if (attempt) attempt.permanent = true;
      if (attempt && ConnectError.from(error).code === Code.FailedPrecondition) attempt.permanent = true;
      throw error;
    }
    if (attempt) attempt.neverSent = false;
    const url = entry.endpoint.url + req.url.slice(placeholderOrigin.length);
    try {
      const res = await entry.client(body === undefined ? { ...req, url } : { ...req, url, body });
      const contentType = res.header.get("content-type") ?? "";
      if (
        (res.status !== 200 && !gatewayStatuses.has(res.status)) ||
        !contentType.startsWith("application/grpc")
      ) {
        if (attempt) attempt.permanent = true;
        void drain(res.body);
        throw new ConnectError(
          `${entry.endpoint.url} answered but is not an etcd gRPC server (HTTP ${res.status}, content-type ${contentType || "none"})`,
          Code.Unavailable,
        );
      }
      return { ...res, body: watchBody(res.body, pool, entry) };
    } catch (error) {
      if (attempt && isRefusedStream(error)) attempt.neverSent = true;
      if (isConnectionFailure(error)) pool.reportFailure(entry, error);
      throw error;
    }
  }

  const unaryClient: UniversalClientFn = async (req) => {
    // Serialising here runs the writeMaxBytes check before any connection is used.
    const chunks: Uint8Array[] = [];
    try {
      if (req.body !== undefined) for await (const chunk of req.body) chunks.push(chunk);
    } catch (error) {
      const attempt = attempts.get(req.header);
      if (attempt) {
        attempt.neverSent = true;
        attempt.permanent = true;
      }
      throw error;
    }
    return dispatch(req, oneShot(chunks));
  };
  const streamClient: UniversalClientFn = (req) => dispatch(req, req.body);

  const unary = createTransport({ ...common, httpClient: unaryClient });
  const stream = createTransport({ ...common, httpClient: streamClient });
  return {
    unary(method, signal, timeoutMs, header, input, contextValues) {
      const timeout = clampTimeout(timeoutMs ?? options.requestTimeoutMs);
      return unary.unary(method, signal, timeout, header, input, contextValues);
    },
    stream(method, signal, timeoutMs, header, input, contextValues) {
      return stream.stream(method, signal, clampTimeout(timeoutMs), header, input, contextValues);
    },
  };
}

// A proxy in front of etcd may answer these while a member is away: Connect maps them to retryable codes.
const gatewayStatuses = new Set([502, 503, 504]);

async function drain(body: AsyncIterable<Uint8Array>): Promise<void> {
  try {
    for await (const _ of body);
  } catch {
    // The answer was already judged; its tail does not matter.
  }
}

async function* oneShot(chunks: Uint8Array[]): AsyncIterable<Uint8Array> {
  yield* chunks;
}

// A response that breaks off mid-body counts against the endpoint, like a failed dial.
function watchBody(
  body: AsyncIterable<Uint8Array>,
  pool: EndpointPool,
  entry: PooledEndpoint,
): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator]() {
      const it = body[Symbol.asyncIterator]();
      return {
        async next() {
          try {
            const r = await it.next();
            if (r.done) pool.reportSuccess(entry);
            return r;
          } catch (error) {
            if (isConnectionFailure(error)) pool.reportFailure(entry, error);
            throw error;
          }
        },
        return: it.return
          ? (value?: unknown) => (it.return as (v?: unknown) => Promise<IteratorResult<Uint8Array>>)(value)
          : undefined,
        throw: it.throw
          ? (e?: unknown) => (it.throw as (e?: unknown) => Promise<IteratorResult<Uint8Array>>)(e)
          : undefined,
      } as AsyncIterator<Uint8Array>;
    },
  };
}

function isConnectionFailure(error: unknown): boolean {
  const ce = ConnectError.from(error);
  return (
    ce.code === Code.Unavailable || ce.code === Code.Internal || /GOAWAY|PING timed out/i.test(ce.rawMessage)
  );
}

// HTTP/2 REFUSED_STREAM means the server did not process the stream at all.
function isRefusedStream(error: unknown): boolean {
  for (let e: unknown = error; typeof e === "object" && e !== null; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: unknown }).code === "ERR_HTTP2_STREAM_ERROR" && /REFUSED_STREAM/.test(String(e)))
      return true;
  }
  return false;
}
