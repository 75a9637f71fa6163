import * as http2 from "node:http2";
import { Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import type { UniversalClientRequest, UniversalClientResponse } from "@connectrpc/connect/protocol";
import { createTransport } from "@connectrpc/connect/protocol-grpc";
import { maxTimeoutMs } from "./client-options.js";
import type { EndpointPool, PooledEndpoint } from "./endpoint-pool.js";
import { isTransientDialError } from "./http2-connection.js";
import { abortError, createUnaryCall, neverSignal, type SendUnary } from "./unary-call.js";

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
const userAgent = "etcd-connect/0.1";

function isNeverAborted(signal: AbortSignal): boolean {
  // Signals that cannot abort need no listener (a shared one would collect them forever).
  return signal === neverSignal;
}

// A transport-level failure of one stream, as the retry policy reads it.
function streamError(error: unknown, rstCode: number | undefined): ConnectError {
  if (rstCode === http2.constants.NGHTTP2_REFUSED_STREAM) {
    return new ConnectError(
      "http/2 stream refused (REFUSED_STREAM)",
      Code.Unavailable,
      undefined,
      undefined,
      error,
    );
  }
  if (error instanceof ConnectError) return error;
  const detail = error instanceof Error ? error.message : `http/2 stream closed (code ${rstCode ?? "none"})`;
  return new ConnectError(detail, Code.Unavailable, undefined, undefined, error);
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
    header: Headers,
    callSignal: AbortSignal,
    attempt: Attempt | undefined,
  ): Promise<PooledEndpoint> {
    if (attempt) attempt.neverSent = true;
    const signal = isNeverAborted(callSignal) ? undefined : callSignal;
    let entry: PooledEndpoint;
    try {
      // A call with a deadline waits for a member as long as its deadline allows.
      const waitMs = header.has("grpc-timeout") ? Number.POSITIVE_INFINITY : options.waitForEndpointMs;
      entry = options.pin === undefined ? await pool.acquire(signal, waitMs) : pool.pinned(options.pin);
    } catch (error) {
      // Closed, or no endpoint came back within the wait: another attempt cannot do better.
      if (attempt) attempt.permanent = true;
      throw error;
    }
    if (attempt) attempt.endpoint = entry.endpoint.url;
    try {
      await pool.connect(entry, signal);
    } catch (error) {
      if (isTransientDialError(error)) pool.reportFailure(entry, error);
      else if (attempt) attempt.permanent = true;
      if (attempt && ConnectError.from(error).code === Code.FailedPrecondition) attempt.permanent = true;
      throw error;
    }
    if (attempt) attempt.neverSent = false;
    return entry;
  }

  function notEtcd(entry: PooledEndpoint, attempt: Attempt | undefined, status: number, contentType: string) {
    if (attempt) attempt.permanent = true;
    return new ConnectError(
      `${entry.endpoint.url} answered but is not an etcd gRPC server (HTTP ${status}, content-type ${contentType || "none"})`,
      Code.Unavailable,
    );
  }

  function failed(entry: PooledEndpoint, attempt: Attempt | undefined, error: unknown): void {
    if (attempt && isRefusedStream(error)) attempt.neverSent = true;
    if (isConnectionFailure(error)) pool.reportFailure(entry, error);
  }

  // Streams (watch, keepalive, snapshot) run on connect-node's HTTP client and pipeline.
  async function dispatchStream(req: UniversalClientRequest): Promise<UniversalClientResponse> {
    const attempt = attempts.get(req.header);
    if (options.requireLeader) req.header.set("hasleader", "true");
    const entry = await prepare(req.header, req.signal ?? neverSignal, attempt);
    const url = entry.endpoint.url + req.url.slice(placeholderOrigin.length);
    try {
      const res = await entry.client({ ...req, url });
      const contentType = res.header.get("content-type") ?? "";
      if (
        (res.status !== 200 && !gatewayStatuses.has(res.status)) ||
        !contentType.startsWith("application/grpc")
      ) {
        void drain(res.body);
        throw notEtcd(entry, attempt, res.status, contentType);
      }
      return { ...res, body: watchBody(res.body, pool, entry) };
    } catch (error) {
      failed(entry, attempt, error);
      throw error;
    }
  }

  // Unary calls take the lean path: one framed buffer out, one answer in, on node:http2.
  const sendUnary: SendUnary = async (req, frame, path) => {
    const attempt = attempts.get(req.header);
    if (req.signal.aborted) {
      if (attempt) {
        attempt.neverSent = true;
        attempt.permanent = true;
      }
      throw abortError(req.signal);
    }
    if (frame.length - 5 > options.writeMaxBytes) {
      // Refused before any connection is touched: nothing was sent, and trying again cannot help.
      if (attempt) {
        attempt.neverSent = true;
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
      entry = await prepare(req.header, req.signal, attempt);
    } else if (attempt) {
      attempt.endpoint = entry.endpoint.url;
      attempt.neverSent = false;
    }
    const headers: http2.OutgoingHttpHeaders = {
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc+proto",
      te: "trailers",
      "user-agent": userAgent,
    };
    req.header.forEach((value, key) => {
      headers[key] = value;
    });
    if (options.requireLeader) headers.hasleader = "true";
    let stream: http2.ClientHttp2Stream;
    try {
      stream =
        entry.connection.openStream(headers, path) ??
        (await entry.connection.request("POST", path, headers, {}));
    } catch (error) {
      failed(entry, attempt, error);
      throw ConnectError.from(error, Code.Unavailable);
    }
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let received = 0;
      let head: http2.IncomingHttpHeaders | undefined;
      let trailers: http2.IncomingHttpHeaders = {};
      let settled = false;
      const signal = req.signal;
      const onAbort = () => {
        settle(abortError(signal));
        stream.close(http2.constants.NGHTTP2_CANCEL);
      };
      if (!isNeverAborted(signal)) signal.addEventListener("abort", onAbort, { once: true });
      const settle = (error: unknown) => {
        if (settled) return;
        settled = true;
        if (!isNeverAborted(signal)) signal.removeEventListener("abort", onAbort);
        if (error !== undefined) {
          reject(error);
          return;
        }
        pool.reportSuccess(entry);
        resolve({
          headers: head ?? {},
          trailers,
          body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks),
        });
      };
      stream.on("response", (h) => {
        head = h;
        const status = Number(h[":status"]);
        const contentType = String(h["content-type"] ?? "");
        if ((status !== 200 && !gatewayStatuses.has(status)) || !contentType.startsWith("application/grpc")) {
          settle(notEtcd(entry, attempt, status, contentType));
          stream.close(http2.constants.NGHTTP2_CANCEL);
        }
      });
      stream.on("data", (chunk: Buffer) => {
        entry.connection.notifyResponseByteRead();
        received += chunk.length;
        // Stop reading at once: the answer is over the limit whatever the rest says.
        if (received > options.readMaxBytes + 5) {
          settle(
            new ConnectError(
              `message size is larger than configured readMaxBytes ${options.readMaxBytes}`,
              Code.ResourceExhausted,
            ),
          );
          stream.close(http2.constants.NGHTTP2_CANCEL);
          return;
        }
        chunks.push(chunk);
      });
      stream.on("trailers", (t) => {
        trailers = t;
      });
      stream.on("error", (error) => {
        const ce = streamError(error, stream.rstCode);
        failed(entry, attempt, ce);
        settle(ce);
      });
      stream.on("close", () => {
        if (settled) return;
        if (
          head === undefined ||
          (stream.rstCode !== undefined && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR)
        ) {
          const error = streamError(undefined, stream.rstCode);
          failed(entry, attempt, error);
          settle(error);
          return;
        }
        settle(undefined);
      });
      // Aborted while a member or a stream was awaited: cancel before sending anything.
      if (signal.aborted) {
        onAbort();
        return;
      }
      stream.end(frame);
    });
  };

  const unaryCall = createUnaryCall({
    interceptors: options.interceptors,
    readMaxBytes: options.readMaxBytes,
    send: sendUnary,
  });
  const stream = createTransport({
    baseUrl: placeholderOrigin,
    useBinaryFormat: true,
    interceptors: options.interceptors,
    acceptCompression: [],
    sendCompression: null,
    compressMinBytes: Number.MAX_SAFE_INTEGER,
    readMaxBytes: options.readMaxBytes,
    writeMaxBytes: options.writeMaxBytes,
    httpClient: dispatchStream,
  });
  return {
    unary(method, signal, timeoutMs, header, input, contextValues) {
      const timeout = clampTimeout(timeoutMs ?? options.requestTimeoutMs);
      return unaryCall(method, signal, timeout, header, input, contextValues);
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
    if (/REFUSED_STREAM/.test(String(e))) return true;
  }
  return false;
}
