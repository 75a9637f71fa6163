// The client side of the HTTP/2 client's tests (src/http2-*.test.ts): connections with test
// options, a handler that records what a stream hears, and streaming calls on a connection.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { TestContext } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import type { LeaseKeepAliveRequestSchema, WatchRequestSchema } from "@etcd-connect/api/etcdserverpb";
import { createStreamCall } from "../src/grpc/stream-call.js";
import { Http2Connection, type Http2ConnectionOptions } from "../src/http2/connection.js";
import type { Http2Headers, Http2Stream, Http2StreamHandler } from "../src/http2/stream.js";

// A guard against hangs, not a timing assert: a flow-control bug shows up as a stream that
// never finishes.
export const limits = { timeout: 20_000 };

/** Connection options for these tests; a test overrides what it is about. */
export const connectionOptions: Http2ConnectionOptions = {
  dialTimeoutMs: 2000,
  keepAliveTimeMs: 10_000,
  keepAliveTimeoutMs: 5000,
  permitWithoutStream: false,
  silenceProbeMs: 1000,
  // As the etcd client configures its connections.
  serverPingPolicy: { minTimeMs: 5000, maxStrikes: 2 },
  serverKind: "an etcd gRPC server",
};

/** Hex SHA-256, to compare large bodies in assertion messages of sane length. */
export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A connection to 127.0.0.1:`port` with the test options, closed after the test. */
export function openConnection(
  t: TestContext,
  port: number,
  overrides: Partial<Http2ConnectionOptions> = {},
): Http2Connection {
  const connection = new Http2Connection(`http://127.0.0.1:${port}`, { ...connectionOptions, ...overrides });
  t.after(() => connection.close());
  return connection;
}

/** Records what a stream's owner hears; `closed` settles on the first onClose. */
export class Collector implements Http2StreamHandler {
  headers: Http2Headers | undefined = undefined;
  trailers: Http2Headers | undefined = undefined;
  readonly chunks: Buffer[] = [];
  /** The argument of every onClose call, to show that there is exactly one. */
  readonly closes: Array<ConnectError | undefined> = [];
  readonly closed: Promise<ConnectError | undefined>;
  private settle: (error: ConnectError | undefined) => void = () => {};

  constructor() {
    this.closed = new Promise((resolve) => {
      this.settle = resolve;
    });
  }

  onResponse(_stream: Http2Stream, headers: Http2Headers): void {
    this.headers = headers;
  }

  onData(_stream: Http2Stream, buf: Uint8Array, start: number, end: number): void {
    this.chunks.push(Buffer.from(buf.buffer, buf.byteOffset + start, end - start));
  }

  onTrailers(_stream: Http2Stream, trailers: Http2Headers): void {
    this.trailers = trailers;
  }

  onClose(_stream: Http2Stream, error: ConnectError | undefined): void {
    this.closes.push(error);
    this.settle(error);
  }

  get body(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** Connect's Transport.stream on streams of `connection`, as the balanced transport builds it. */
export function streamCallOn(connection: Http2Connection) {
  return createStreamCall({
    interceptors: [],
    readMaxBytes: 4 << 20,
    writeMaxBytes: 4 << 20,
    open: (_req, path, handler) => connection.request({ path }, handler),
  });
}

/** Watch requests that each create a watch on one of `keys`. */
export async function* watchRequests(
  keys: Uint8Array[],
): AsyncGenerator<MessageInitShape<typeof WatchRequestSchema>> {
  for (const key of keys) yield { requestUnion: { case: "createRequest", value: { key } } };
}

/** Lease keepalive requests, one for each of `ids`. */
export async function* keepAlives(
  ids: bigint[],
): AsyncGenerator<MessageInitShape<typeof LeaseKeepAliveRequestSchema>> {
  for (const ID of ids) yield { ID };
}

/** Asserts that `error` is a ConnectError, and returns it as one. */
export function expectConnectError(error: unknown): ConnectError {
  assert.ok(error instanceof ConnectError, `expected a ConnectError, got ${String(error)}`);
  return error;
}
