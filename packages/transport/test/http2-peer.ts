// The peers of the HTTP/2 client's tests (src/http2-*.test.ts). node:http2 plays the server for
// protocol edges that etcd cannot be made to produce on demand (CONTINUATION, REFUSED_STREAM,
// GOAWAY with streams on both sides of the last id, a stream limit, padding, server PINGs); raw
// TCP servers play peers that do not speak HTTP/2 at all.

import { once } from "node:events";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import * as net from "node:net";
import type { TestContext } from "node:test";

// --- the node:http2 peer ---

export type ServerStreamHandler = (
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
) => void;

export interface TestServer {
  readonly port: number;
  readonly sessions: http2.ServerHttp2Session[];
  /** Every stream the server received, in arrival order. */
  readonly streams: http2.ServerHttp2Stream[];
  /** One promise per accepted TCP connection, settled when the server sees it close. */
  readonly socketsClosed: Array<Promise<void>>;
  /** Resolves once the server has received `count` streams. */
  arrived(count: number): Promise<http2.ServerHttp2Stream[]>;
}

export async function startServer(
  t: TestContext,
  onStream: ServerStreamHandler,
  options: http2.ServerOptions = {},
): Promise<TestServer> {
  const server = http2.createServer(options);
  const sessions: http2.ServerHttp2Session[] = [];
  const streams: http2.ServerHttp2Stream[] = [];
  const sockets: net.Socket[] = [];
  const socketsClosed: Array<Promise<void>> = [];
  const waiters: Array<{ count: number; resolve: (streams: http2.ServerHttp2Stream[]) => void }> = [];
  server.on("connection", (socket: net.Socket) => {
    sockets.push(socket);
    socket.on("error", () => {});
    socketsClosed.push(new Promise((resolve) => socket.once("close", () => resolve())));
  });
  server.on("session", (session) => {
    sessions.push(session);
    session.on("error", () => {});
  });
  server.on("stream", (stream, headers) => {
    // A reset from the client surfaces as 'error' on node's side; tests look at rstCode.
    stream.on("error", () => {});
    streams.push(stream);
    onStream(stream, headers);
    for (let i = waiters.length - 1; i >= 0; i--) {
      const waiter = waiters[i] as (typeof waiters)[number];
      if (streams.length >= waiter.count) {
        waiters.splice(i, 1);
        waiter.resolve([...streams]);
      }
    }
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(async () => {
    for (const session of sessions) session.destroy();
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    port: (server.address() as AddressInfo).port,
    sessions,
    streams,
    socketsClosed,
    arrived(count) {
      if (streams.length >= count) return Promise.resolve([...streams]);
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
  };
}

/** Reads a request body to its end. */
export function readBody(stream: http2.ServerHttp2Stream): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => resolve(Buffer.concat(chunks)));
  });
}

/** Answers with 200, `body`, and trailers when given; does nothing on a stream already gone. */
export function reply(
  stream: http2.ServerHttp2Stream,
  body: Buffer | string = "",
  trailers?: http2.OutgoingHttpHeaders,
  headers: http2.OutgoingHttpHeaders = {},
): void {
  if (stream.destroyed || stream.closed) return;
  stream.respond(
    { ":status": 200, "content-type": "application/grpc", ...headers },
    { waitForTrailers: trailers !== undefined },
  );
  if (trailers !== undefined) stream.once("wantTrailers", () => stream.sendTrailers(trailers));
  stream.end(body);
}

/** Resolves with the stream's RST_STREAM code once node sees it close. */
export function serverClose(stream: http2.ServerHttp2Stream): Promise<number> {
  return new Promise((resolve) => stream.once("close", () => resolve(stream.rstCode as number)));
}

// --- raw TCP peers ---

export interface RawServer {
  readonly port: number;
  readonly socketsClosed: Array<Promise<void>>;
}

export async function startRawServer(
  t: TestContext,
  onSocket: (socket: net.Socket) => void,
): Promise<RawServer> {
  const sockets: net.Socket[] = [];
  const socketsClosed: Array<Promise<void>> = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => {});
    socketsClosed.push(new Promise((resolve) => socket.once("close", () => resolve())));
    onSocket(socket);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as AddressInfo).port, socketsClosed };
}

/** A port nothing listens on: bound, then released. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// --- gRPC messages, as the server reads and writes them ---

/** Frames `payload` as one gRPC message: flag byte 0, uint32 BE length, the bytes. */
export function envelope(payload: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + payload.length);
  frame.writeUInt32BE(payload.length, 1);
  frame.set(payload, 5);
  return frame;
}

/** A parser fed with a request body as it arrives; calls `onMessage` with each whole payload. */
export function envelopeParser(onMessage: (payload: Buffer) => void): (chunk: Buffer) => void {
  let buffered = Buffer.alloc(0);
  return (chunk) => {
    let buf = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    while (buf.length >= 5) {
      const length = buf.readUInt32BE(1);
      if (buf.length < 5 + length) break;
      onMessage(buf.subarray(5, 5 + length));
      buf = buf.subarray(5 + length);
    }
    buffered = Buffer.from(buf);
  };
}

/** The gRPC message payloads of a whole request body. */
export function envelopes(body: Buffer): Buffer[] {
  const payloads: Buffer[] = [];
  envelopeParser((payload) => payloads.push(payload))(body);
  return payloads;
}
