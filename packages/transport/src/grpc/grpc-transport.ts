import type { ConnectionOptions } from "node:tls";
import { Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import { codeFromHttpStatus } from "@connectrpc/connect/protocol-grpc";
import { Http2Connection } from "../http2/connection.js";
import { extraHeaders } from "../http2/headers.js";
import { serverText } from "../http2/server-text.js";
import { envelopeHeaderBytes } from "./envelope.js";
import { MessageSizeError } from "./message-size-error.js";
import { openUnary } from "./open-unary.js";
import { raceSignal } from "./race-signal.js";
import { createStreamCall } from "./stream-call.js";
import { abortError, createUnaryCall } from "./unary-call.js";
import { UnaryExchange, type UnaryExchangeHooks } from "./unary-exchange.js";

/** Options of {@link createGrpcTransport}. Only `baseUrl` is required. */
export interface GrpcTransportOptions {
  /** The server: `http://host:port` or `https://host:port`. */
  baseUrl: string;
  /** TLS settings for an https server (ca, cert, key, servername, rejectUnauthorized). */
  tls?: ConnectionOptions;
  /** Connect interceptors, outermost first. Default: none. */
  interceptors?: Interceptor[];
  /** Largest response message, in bytes. Default: 2^31-1. */
  readMaxBytes?: number;
  /** Largest request message, in bytes; a larger one fails before it is sent. Default: 2^31-1. */
  writeMaxBytes?: number;
  /** Deadline of unary calls that give none, in ms. Default: none. */
  defaultTimeoutMs?: number;
  /** Bound on TCP, TLS and the server's first SETTINGS frame, in ms. Default: 5000. */
  dialTimeoutMs?: number;
  /**
   * Ping after this long without a read, while calls are open, in ms. Default: off (servers
   * refuse frequent pings: grpc-go by default allows one every 5 minutes).
   */
  pingIntervalMs?: number;
  /** A ping unanswered this long closes the connection, in ms. Default: 15000. */
  pingTimeoutMs?: number;
}

/** A Connect `Transport` over one HTTP/2 connection; `close()` ends it (open calls fail with Canceled). */
export interface GrpcTransport extends Transport {
  close(): void;
}

// setTimeout's longest delay: "off" for a ping interval.
const never = 2 ** 31 - 1;

const hooks: UnaryExchangeHooks<string> = {
  notGrpc: (baseUrl, status, contentType) =>
    new ConnectError(
      `${baseUrl} is not a gRPC server (HTTP ${status}, content-type ${serverText(contentType, 64) || "none"})`,
      codeFromHttpStatus(status),
    ),
  failed: () => {},
  answered: () => {},
  dialFailed: (_baseUrl, error) => ConnectError.from(error, Code.Unavailable),
};

/**
 * A Connect `Transport` for gRPC over one HTTP/2 connection on this package's own framing, dialled
 * on first use and again after it closes. Use it with Connect's `createClient` for any gRPC
 * service; every limit of the README's threat model applies.
 *
 * @example
 * ```ts
 * const transport = createGrpcTransport({ baseUrl: "http://127.0.0.1:2379" });
 * const kv = createClient(KV, transport);
 * await kv.put({ key: new TextEncoder().encode("k"), value: new TextEncoder().encode("v") });
 * transport.close();
 * ```
 */
export function createGrpcTransport(options: GrpcTransportOptions): GrpcTransport {
  const baseUrl = new URL(options.baseUrl).origin;
  const readMaxBytes = options.readMaxBytes ?? 2 ** 31 - 1;
  const writeMaxBytes = options.writeMaxBytes ?? 2 ** 31 - 1;
  const connection = new Http2Connection(baseUrl, {
    tls: options.tls,
    dialTimeoutMs: options.dialTimeoutMs ?? 5000,
    keepAliveTimeMs: options.pingIntervalMs ?? never,
    keepAliveTimeoutMs: options.pingTimeoutMs ?? 15_000,
    permitWithoutStream: false,
    silenceProbeMs: never,
  });
  const wentAway = () => new ConnectError(`${baseUrl} went away`, Code.Unavailable);
  const unaryCall = createUnaryCall({
    interceptors: options.interceptors ?? [],
    send: (req, frame, path) =>
      new Promise((resolve, reject) => {
        if (req.signal.aborted) {
          reject(abortError(req.signal));
          return;
        }
        const size = frame.length - envelopeHeaderBytes;
        if (size > writeMaxBytes) {
          reject(new MessageSizeError("write", size, writeMaxBytes));
          return;
        }
        const exchange = new UnaryExchange(resolve, reject, req.signal, readMaxBytes, hooks, baseUrl);
        openUnary(
          connection,
          { path, extra: extraHeaders(req.header), body: frame, end: true },
          exchange,
          wentAway,
        );
      }),
  });
  const streamCall = createStreamCall({
    interceptors: options.interceptors ?? [],
    readMaxBytes,
    writeMaxBytes,
    open: async (req, path, handler) => {
      const request = { path, extra: extraHeaders(req.header) };
      const stream = connection.openStream(request, handler);
      if (stream !== undefined) return stream;
      // The dial is bounded by dialTimeoutMs; the call's deadline or signal may end it sooner.
      await raceSignal(connection.connect(), req.signal);
      return connection.openStream(request, handler) ?? (await connection.request(request, handler));
    },
  });
  return {
    unary: (method, signal, timeoutMs, header, input, contextValues) =>
      unaryCall(method, signal, timeoutMs ?? options.defaultTimeoutMs, header, input, contextValues),
    stream: (method, signal, timeoutMs, header, input, contextValues) =>
      streamCall(method, signal, timeoutMs, header, input, contextValues),
    close: () => connection.close(),
  };
}
