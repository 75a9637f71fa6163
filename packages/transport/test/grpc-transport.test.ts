import assert from "node:assert/strict";
import { once } from "node:events";
import * as net from "node:net";
import { after, before, describe, it } from "node:test";
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import {
  KV,
  RangeRequestSchema,
  RangeResponseSchema,
  Watch,
  type WatchRequestSchema,
} from "@etcd-connect/api/etcdserverpb";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { createGrpcTransport, type GrpcTransport, NotGrpcServerError, poll } from "../src/index.js";
import { Collector, openConnection } from "./http2-helpers.js";
import { envelope, envelopes } from "./http2-peer.js";

// createGrpcTransport on its own, under Connect's createClient, against a real etcd: what a user
// of the package sees (codes, messages, limits, close), not the frames underneath (src/http2/*.test.ts
// and the client's adversarial suite cover those).

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array | undefined) => new TextDecoder().decode(data);

// A hang here is a bug to report, not a reason to wait for node:test's default of forever.
const suiteOptions = { ...integrationOptions(), timeout: 60_000 };

type WatchRequestInit = MessageInitShape<typeof WatchRequestSchema>;

// One watch on `key`, with our side of the stream held open until `stop` aborts, as a real
// watcher keeps it (etcd would also serve a half-closed watch, which would prove less).
async function* watchRequests(key: string, stop: AbortSignal): AsyncGenerator<WatchRequestInit> {
  yield { requestUnion: { case: "createRequest", value: { key: bytes(key) } } };
  if (!stop.aborted) await once(stop, "abort");
}

function connectError(error: unknown): ConnectError {
  assert.ok(error instanceof ConnectError, `expected a ConnectError, got ${String(error)}`);
  return error;
}

// A TCP server that is not HTTP/2: whatever arrives, it answers as an HTTP/1.1 server would.
async function startHttp1Server(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.resume();
    socket.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, "close");
    },
  };
}

// A TCP server that accepts and then says nothing: a dial to it never completes on its own.
async function startSilentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.resume();
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, "close");
    },
  };
}

describe("createGrpcTransport against a real etcd", suiteOptions, () => {
  let etcd: EtcdMember;
  let transport: GrpcTransport;
  // Transports a test makes for itself, closed even when its assertions fail.
  const extra: GrpcTransport[] = [];
  const open = (options: Omit<Parameters<typeof createGrpcTransport>[0], "baseUrl"> = {}) => {
    const made = createGrpcTransport({ baseUrl: etcd.clientUrl, ...options });
    extra.push(made);
    return made;
  };

  before(async () => {
    etcd = await startEtcd();
    transport = createGrpcTransport({ baseUrl: etcd.clientUrl });
  });
  after(async () => {
    transport?.close();
    for (const made of extra) made.close();
    await etcd?.close();
  });

  it("puts and ranges through Connect's createClient", async () => {
    const kv = createClient(KV, transport);
    const put = await kv.put({ key: bytes("t/put"), value: bytes("hello") });
    assert.ok((put.header?.revision ?? 0n) > 0n);
    const range = await kv.range({ key: bytes("t/put") });
    assert.equal(range.count, 1n);
    assert.equal(text(range.kvs[0]?.key), "t/put");
    assert.equal(text(range.kvs[0]?.value), "hello");
    assert.equal(range.kvs[0]?.modRevision, put.header?.revision);
  });

  it("keeps etcd's HPACK table in step past its size: 150 methods each reach etcd by name", async (t) => {
    // Each path goes into etcd's table while it has room, then as a literal; etcd names the
    // method it could not find, so a block it decoded to another path shows.
    const connection = openConnection(t, Number(new URL(etcd.clientUrl).port));
    for (let i = 0; i < 150; i++) {
      const call = new Collector();
      await connection.request(
        { path: `/etcdserverpb.KV/Missing${i}`, body: envelope(new Uint8Array()), end: true },
        call,
      );
      assert.equal(await call.closed, undefined);
      const status = call.trailers ?? call.headers;
      assert.equal(status?.["grpc-status"], String(Code.Unimplemented));
      assert.match(decodeURIComponent(String(status?.["grpc-message"])), new RegExp(`\\bMissing${i}\\b`));
    }
    const put = createClient(KV, transport);
    await put.put({ key: bytes("hpack/k"), value: bytes("v") });
    const range = new Collector();
    const request = toBinary(RangeRequestSchema, create(RangeRequestSchema, { key: bytes("hpack/k") }));
    await connection.request({ path: "/etcdserverpb.KV/Range", body: envelope(request), end: true }, range);
    assert.equal(await range.closed, undefined);
    assert.equal(range.trailers?.["grpc-status"], "0");
    const [payload] = envelopes(Buffer.concat(range.chunks));
    const answer = fromBinary(RangeResponseSchema, payload as Buffer);
    assert.equal(text(answer.kvs[0]?.value), "v");
  });

  it("surfaces an etcd error status as a ConnectError with etcd's code and message", async () => {
    const kv = createClient(KV, transport);
    const error = connectError(
      await kv.range({ key: bytes("t/put"), revision: 1_000_000_000n }).then(
        () => assert.fail("a range at a future revision succeeded"),
        (e: unknown) => e,
      ),
    );
    assert.equal(error.code, Code.OutOfRange);
    assert.equal(error.rawMessage, "etcdserver: mvcc: required revision is a future revision");
    // The status is the call's: the connection goes on serving.
    assert.equal((await kv.range({ key: bytes("t/put") })).count, 1n);
  });

  it("runs a bidi Watch stream that sees a put, and ends it by aborting", async () => {
    const watch = createClient(Watch, transport);
    const kv = createClient(KV, transport);
    const stop = new AbortController();
    try {
      const responses = watch
        .watch(watchRequests("t/watched", stop.signal), { signal: stop.signal })
        [Symbol.asyncIterator]();
      const created = await responses.next();
      assert.equal(created.done, false);
      assert.equal(created.value?.created, true);
      // The put shares the watch's connection: the streams are multiplexed on one session.
      const put = await kv.put({ key: bytes("t/watched"), value: bytes("seen") });
      const update = await responses.next();
      assert.equal(update.done, false);
      const event = update.value?.events[0];
      assert.equal(text(event?.kv?.key), "t/watched");
      assert.equal(text(event?.kv?.value), "seen");
      assert.equal(event?.kv?.modRevision, put.header?.revision);

      stop.abort();
      const error = connectError(
        await responses.next().then(
          () => assert.fail("the watch went on after its signal aborted"),
          (e: unknown) => e,
        ),
      );
      assert.equal(error.code, Code.Canceled);
      // Aborting one stream leaves the connection to the others.
      assert.equal((await kv.range({ key: bytes("t/watched") })).count, 1n);
    } finally {
      stop.abort();
    }
  });

  it("hands out by poll the messages a stream already holds, and only those", async () => {
    // Connect's client passes messages through a generator of its own; the transport's stream
    // is iterated here as the client package's lean streams iterate it.
    const kv = createClient(KV, transport);
    const stop = new AbortController();
    try {
      const response = await transport.stream(
        Watch.method.watch,
        stop.signal,
        undefined,
        undefined,
        watchRequests("t/polled", stop.signal),
      );
      const messages = response.message[Symbol.asyncIterator]();
      const created = await messages.next();
      assert.equal(created.value?.created, true);
      // Nothing was written since: etcd has nothing to send, so there is nothing to hand out.
      assert.equal(poll(messages), undefined);
      for (const value of ["a", "b", "c"]) await kv.put({ key: bytes("t/polled"), value: bytes(value) });
      const seen: string[] = [];
      while (seen.length < 3) {
        const result = poll(messages);
        if (result === undefined) {
          // Not arrived yet: the socket is read between macrotasks.
          await new Promise((resolve) => setImmediate(resolve));
          continue;
        }
        assert.equal(result.done, false);
        for (const event of result.value.events) seen.push(text(event.kv?.value));
      }
      assert.deepEqual(seen, ["a", "b", "c"]);
      assert.equal(poll(messages), undefined);
      stop.abort();
      // The end is handed out too, once the stream has ended: as the error next() rejects with.
      let ended: unknown;
      while (ended === undefined) {
        try {
          if (poll(messages) === undefined) await new Promise((resolve) => setImmediate(resolve));
        } catch (error) {
          ended = error;
        }
      }
      assert.equal(connectError(ended).code, Code.Canceled);
      await assert.rejects(messages.next(), (error) => connectError(error).code === Code.Canceled);
    } finally {
      stop.abort();
    }
  });

  it("ends a stream whose timeoutMs expires with DeadlineExceeded", async () => {
    const watch = createClient(Watch, transport);
    const stop = new AbortController();
    try {
      const responses = watch
        .watch(watchRequests("t/deadline", stop.signal), { timeoutMs: 300 })
        [Symbol.asyncIterator]();
      assert.equal((await responses.next()).value?.created, true);
      // Nothing writes t/deadline: only the deadline can end the stream.
      const error = connectError(
        await responses.next().then(
          () => assert.fail("the watch outlived its deadline"),
          (e: unknown) => e,
        ),
      );
      assert.equal(error.code, Code.DeadlineExceeded);
    } finally {
      stop.abort();
    }
  });

  it("fails a response over readMaxBytes with ResourceExhausted; the next call works", async () => {
    await createClient(KV, transport).put({ key: bytes("t/large"), value: new Uint8Array(1024) });
    const small = createClient(KV, open({ readMaxBytes: 512 }));
    const error = connectError(
      await small.range({ key: bytes("t/large") }).then(
        () => assert.fail("a 1 KiB value came through a 512-byte readMaxBytes"),
        (e: unknown) => e,
      ),
    );
    assert.equal(error.code, Code.ResourceExhausted);
    assert.match(error.rawMessage, /larger than configured readMaxBytes 512/);
    // Only that call's stream was reset: the same connection serves the next call.
    const keysOnly = await small.range({ key: bytes("t/large"), keysOnly: true });
    assert.equal(keysOnly.count, 1n);
    assert.equal(keysOnly.kvs[0]?.value.length, 0);
  });

  it("refuses a request over writeMaxBytes before sending it", async () => {
    const kv = createClient(KV, open({ writeMaxBytes: 512 }));
    const error = connectError(
      await kv.put({ key: bytes("t/too-large"), value: new Uint8Array(1024) }).then(
        () => assert.fail("a 1 KiB put went through a 512-byte writeMaxBytes"),
        (e: unknown) => e,
      ),
    );
    assert.equal(error.code, Code.ResourceExhausted);
    assert.match(error.rawMessage, /larger than configured writeMaxBytes 512/);
    // Refused before sending: etcd never saw the write.
    assert.equal((await kv.range({ key: bytes("t/too-large") })).count, 0n);
  });

  it("runs interceptors around every call, outermost first", async () => {
    const seen: string[] = [];
    const outer: Interceptor = (next) => async (req) => {
      seen.push(`outer ${req.method.name}`);
      const res = await next(req);
      // Interceptors see the decoded answer, as with Connect's own transports.
      if (!res.stream) seen.push(`answer ${res.message.$typeName}`);
      return res;
    };
    const inner: Interceptor = (next) => async (req) => {
      // The deadline is already a header when the interceptors run.
      seen.push(`inner ${req.method.name} ${req.header.get("grpc-timeout")}`);
      return next(req);
    };
    const kv = createClient(KV, open({ interceptors: [outer, inner], defaultTimeoutMs: 5000 }));
    await kv.range({ key: bytes("t/put") });
    assert.deepEqual(seen, ["outer Range", "inner Range 5000m", "answer etcdserverpb.RangeResponse"]);
  });

  it("close() fails open streams and later calls with Canceled, without dialling again", async () => {
    const closing = open();
    const kv = createClient(KV, closing);
    const watch = createClient(Watch, closing);
    const stop = new AbortController();
    try {
      await kv.range({ key: bytes("t/put") });
      const responses = watch.watch(watchRequests("t/closing", stop.signal))[Symbol.asyncIterator]();
      assert.equal((await responses.next()).value?.created, true);

      closing.close();
      // Our own close: Canceled, as for any call the client gave up on, not Unavailable.
      const streamError = connectError(
        await responses.next().then(
          () => undefined,
          (e: unknown) => e,
        ),
      );
      assert.equal(streamError.code, Code.Canceled);
      // A closed transport stays closed: etcd is up, yet no new connection is made.
      const callError = connectError(
        await kv.range({ key: bytes("t/put") }).then(
          () => assert.fail("a call succeeded after close()"),
          (e: unknown) => e,
        ),
      );
      assert.equal(callError.code, Code.Canceled);
      assert.match(callError.rawMessage, /closed/);
    } finally {
      stop.abort();
    }
  });

  it("fails calls to a port that is not HTTP/2 with Unavailable, naming it", async (t) => {
    const http1 = await startHttp1Server();
    t.after(() => http1.close());
    const wrong = createGrpcTransport({ baseUrl: http1.url });
    t.after(() => wrong.close());
    const error = connectError(
      await createClient(KV, wrong)
        .range({ key: bytes("t/put") })
        .then(
          () => assert.fail("an HTTP/1.1 server answered a gRPC call"),
          (e: unknown) => e,
        ),
    );
    assert.equal(error.code, Code.Unavailable);
    assert.match(error.rawMessage, /is not a gRPC server/);
    // Typed, so a layer above can tell a wrong port (not worth retrying) from a refused one.
    assert.ok(error instanceof NotGrpcServerError);

    // A streaming call dials the same way and fails the same way.
    const stop = new AbortController();
    try {
      const streamError = connectError(
        await createClient(Watch, wrong)
          .watch(watchRequests("t/put", stop.signal))
          [Symbol.asyncIterator]()
          .next()
          .then(
            () => assert.fail("an HTTP/1.1 server answered a gRPC stream"),
            (e: unknown) => e,
          ),
      );
      assert.equal(streamError.code, Code.Unavailable);
    } finally {
      stop.abort();
    }
  });

  // The dial alone would take dialTimeoutMs (10 minutes here); the test's own timeout is far
  // shorter, so a call that waited for the dial instead of its deadline fails the test.
  it("bounds a unary call by defaultTimeoutMs, even while the dial hangs", { timeout: 30_000 }, async (t) => {
    const silent = await startSilentServer();
    t.after(() => silent.close());
    const stuck = createGrpcTransport({ baseUrl: silent.url, defaultTimeoutMs: 300, dialTimeoutMs: 600_000 });
    t.after(() => stuck.close());
    const error = connectError(
      await createClient(KV, stuck)
        .range({ key: bytes("t/put") })
        .then(
          () => assert.fail("a server that never spoke answered"),
          (e: unknown) => e,
        ),
    );
    assert.equal(error.code, Code.DeadlineExceeded);
  });

  it("bounds a stream by its timeoutMs, even while the dial hangs", { timeout: 30_000 }, async (t) => {
    const silent = await startSilentServer();
    t.after(() => silent.close());
    const stuck = createGrpcTransport({ baseUrl: silent.url, dialTimeoutMs: 600_000 });
    t.after(() => stuck.close());
    const stop = new AbortController();
    t.after(() => stop.abort());
    const responses = createClient(Watch, stuck)
      .watch(watchRequests("t/dial", stop.signal), { timeoutMs: 300 })
      [Symbol.asyncIterator]();
    const error = connectError(
      await responses.next().then(
        () => assert.fail("a server that never spoke answered"),
        (e: unknown) => e,
      ),
    );
    assert.equal(error.code, Code.DeadlineExceeded);
  });

  it("carries deadlines gRPC cannot express as valid ones (fractions, past 8 digits)", async () => {
    const kv = createClient(KV, transport);
    await kv.put({ key: bytes("t/clamp"), value: bytes("v") });
    // A fraction would make an invalid grpc-timeout header (etcd resets the stream); 3e9 ms
    // would overflow Node's timers and fire at once.
    for (const timeoutMs of [1500.5, 100_000_000, 3_000_000_000]) {
      const response = await kv.range({ key: bytes("t/clamp") }, { timeoutMs });
      assert.equal(response.count, 1n, `timeoutMs ${timeoutMs}`);
    }
  });
});
