import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as http2 from "node:http2";
import { describe, it, type TestContext } from "node:test";
import { setImmediate as nextTurn, setTimeout as sleep } from "node:timers/promises";
import {
  create,
  type DescMessage,
  type DescMethodStreaming,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  Lease,
  LeaseKeepAliveRequestSchema,
  LeaseKeepAliveResponseSchema,
  Watch,
  WatchResponseSchema,
} from "@etcd-connect/api/etcdserverpb";
import { dataBytes, doneOrStalled, sentEnd, startTap } from "../../test/frame-tap.js";
import {
  Collector,
  expectConnectError,
  keepAlives,
  limits,
  openConnection,
  sha256,
  streamCallOn,
  watchRequests,
} from "../../test/http2-helpers.js";
import { envelope, envelopes, readBody, reply, serverClose, startServer } from "../../test/http2-peer.js";
import type { Http2Stream } from "./stream.js";
import { isUnprocessed } from "./unprocessed.js";

// How Http2Session's streams wait, end and fail, with node:http2 as the peer: protocol edges that
// etcd cannot be made to produce on demand (a stream limit, REFUSED_STREAM, GOAWAY with streams on
// both sides of the last id). A tap between client and server records the frames, so a test can
// show that the edge really happened instead of trusting that it did.

describe("Http2Session stream limit (SETTINGS_MAX_CONCURRENT_STREAMS) against node:http2", () => {
  it(
    "queues 10 streams behind a limit of 2: all complete, never more than 2 open at the server",
    limits,
    async (t) => {
      let open = 0;
      let mostOpen = 0;
      const server = await startServer(
        t,
        (stream) => {
          open++;
          mostOpen = Math.max(mostOpen, open);
          stream.once("close", () => open--);
          void readBody(stream).then((body) => setTimeout(() => reply(stream, body), 20));
        },
        { settings: { maxConcurrentStreams: 2 } },
      );
      const connection = openConnection(t, server.port);
      await connection.connect();
      const calls = Array.from({ length: 10 }, () => new Collector());
      const streams = calls.map((call, i) =>
        connection.openStream(
          { path: "/etcdserverpb.KV/Put", body: Buffer.from(`put ${i}`), end: true },
          call,
        ),
      );
      assert.deepEqual(
        streams.map((s) => s?.id),
        [1, 3, 0, 0, 0, 0, 0, 0, 0, 0],
        "two start, eight wait for a slot",
      );
      const errors = await Promise.all(calls.map((call) => call.closed));
      assert.deepEqual(errors, Array(10).fill(undefined));
      assert.deepEqual(
        calls.map((call) => call.body.toString()),
        calls.map((_, i) => `put ${i}`),
      );
      assert.equal(server.streams.length, 10);
      assert.ok(mostOpen <= 2, `the server saw ${mostOpen} streams open at once`);
      assert.equal(mostOpen, 2);
    },
  );

  it("cancels a stream that waits for a slot without using a stream id", limits, async (t) => {
    const server = await startServer(
      t,
      (stream, headers) => {
        if (headers[":path"] !== "/hold") reply(stream, "ok");
      },
      { settings: { maxConcurrentStreams: 1 } },
    );
    const connection = openConnection(t, server.port);
    await connection.connect();
    const hold = new Collector();
    connection.openStream({ path: "/hold", end: true }, hold);
    const waiting = new Collector();
    const queued = connection.openStream({ path: "/never", end: true }, waiting);
    assert.equal(queued?.id, 0);
    const reason = new ConnectError("caller gave up", Code.Canceled);
    queued.cancel(reason);
    queued.cancel(new ConnectError("again", Code.Canceled));
    assert.equal(waiting.closes.length, 1);
    assert.equal(waiting.closes[0], reason);

    const [held] = await server.arrived(1);
    reply(held as http2.ServerHttp2Stream, "held");
    assert.equal(await hold.closed, undefined);
    const next = new Collector();
    const stream = await connection.request({ path: "/next", end: true }, next);
    assert.equal(await next.closed, undefined);
    assert.equal(stream.id, 3, "the cancelled stream took no id");
    assert.deepEqual(
      server.streams.map((s) => s.id),
      [1, 3],
    );
  });

  it(
    "fails waiting streams as unprocessed, and open ones as Canceled, when the connection closes",
    limits,
    async (t) => {
      const server = await startServer(t, () => {}, { settings: { maxConcurrentStreams: 1 } });
      const connection = openConnection(t, server.port);
      await connection.connect();
      const open = new Collector();
      const waiting = new Collector();
      connection.openStream({ path: "/etcdserverpb.KV/Put", end: true }, open);
      connection.openStream({ path: "/etcdserverpb.KV/Put", end: true }, waiting);
      await server.arrived(1);
      connection.close();
      const openError = expectConnectError(await open.closed);
      assert.equal(openError.code, Code.Canceled);
      assert.equal(isUnprocessed(openError), false, "the server may have processed the open one");
      const waitingError = expectConnectError(await waiting.closed);
      assert.equal(isUnprocessed(waitingError), true);
      await server.socketsClosed[0];
    },
  );

  // Guards a bug in Http2Session.start: if it sends what a waiting stream had queued but never
  // calls onDrain, a writer that was told "false" waits forever. The stream call's pump is such a
  // writer: a streaming call opened at the stream limit would never send its second message nor
  // end its request.
  it("runs a streaming call that had to wait for a stream slot (createStreamCall)", limits, async (t) => {
    const server = await startServer(
      t,
      (stream, headers) => {
        if (headers[":path"] === "/hold") return;
        // One answer once the request has ended: its ID is the sum of the IDs received.
        void readBody(stream).then((body) => {
          let sum = 0n;
          for (const payload of envelopes(body)) sum += fromBinary(LeaseKeepAliveRequestSchema, payload).ID;
          const answer = create(LeaseKeepAliveResponseSchema, { ID: sum });
          reply(stream, envelope(toBinary(LeaseKeepAliveResponseSchema, answer)), { "grpc-status": "0" });
        });
      },
      { settings: { maxConcurrentStreams: 1 } },
    );
    const tap = await startTap(t, server.port);
    const connection = openConnection(t, tap.port);
    await connection.connect();
    const hold = new Collector();
    connection.openStream({ path: "/hold", end: true }, hold);
    const streamCall = streamCallOn(connection);
    const ids = [1n, 2n];
    const requestBytes = ids
      .map(
        (ID) => 5 + toBinary(LeaseKeepAliveRequestSchema, create(LeaseKeepAliveRequestSchema, { ID })).length,
      )
      .join(" + ");
    const call = streamCall(Lease.method.leaseKeepAlive, undefined, undefined, undefined, keepAlives(ids));
    // Settles either way, so a call failed by the teardown rejects nothing unhandled.
    const answered = call.then(
      () => "answered",
      () => "failed",
    );
    // Lets the pump write its first message into the waiting stream before the slot frees.
    await nextTurn();
    const [held] = await server.arrived(1);
    reply(held as http2.ServerHttp2Stream);
    assert.equal(await hold.closed, undefined);
    const outcome = await doneOrStalled(answered, tap);
    // The call's stream took the slot after /hold, so its id is 3.
    assert.equal(
      outcome,
      "done",
      `the request sent ${dataBytes(tap, 3)} of ${requestBytes} bytes, END_STREAM: ${sentEnd(tap, 3)}`,
    );
    const response = await call;
    const answers: bigint[] = [];
    for await (const message of response.message) answers.push(message.ID);
    assert.deepEqual(answers, [3n]);
    assert.equal(response.trailer.get("grpc-status"), "0");
  });

  // Fails today (bug in Http2Session.start/sendData): when the first of several writes queued on
  // a waiting stream is larger than the window, sendData() overwrites stream.queuedEnd with that
  // write's `end` (false), and start() then passes the stale flag for the last write: END_STREAM
  // is lost.
  it(
    "keeps END_STREAM of writes queued while waiting for a slot when the first exceeds the window",
    limits,
    async (t) => {
      const server = await startServer(
        t,
        (stream, headers) => {
          if (headers[":path"] === "/hold") return;
          void readBody(stream).then((body) => reply(stream, sha256(body)));
        },
        { settings: { maxConcurrentStreams: 1 } },
      );
      const tap = await startTap(t, server.port);
      const connection = openConnection(t, tap.port);
      await connection.connect();
      const hold = new Collector();
      connection.openStream({ path: "/hold", end: true }, hold);
      const call = new Collector();
      const stream = connection.openStream({ path: "/etcdserverpb.KV/Put" }, call);
      assert.equal(stream?.id, 0);
      const first = randomBytes(100 << 10);
      const second = Buffer.from("second");
      assert.equal(stream.write(first, false), false, "a waiting stream queues");
      stream.write(second, false);
      stream.write(new Uint8Array(0), true);
      const [held] = await server.arrived(1);
      reply(held as http2.ServerHttp2Stream);
      assert.equal(await hold.closed, undefined);

      const outcome = await doneOrStalled(call.closed, tap);
      const total = first.length + second.length;
      assert.equal(dataBytes(tap, stream.id), total, "every queued byte went out");
      assert.ok(sentEnd(tap, stream.id), `${total} bytes sent, but no DATA frame with END_STREAM`);
      assert.equal(outcome, "done");
      assert.equal(await call.closed, undefined);
      assert.equal(call.body.toString(), sha256(Buffer.concat([first, second])));
    },
  );
});

describe("Http2Session RST_STREAM against node:http2", () => {
  it("marks REFUSED_STREAM unprocessed and other reset codes not", limits, async (t) => {
    const server = await startServer(t, (stream, headers) => {
      if (headers[":path"] === "/refuse") stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      else if (headers[":path"] === "/fail") stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      else reply(stream, "ok");
    });
    const connection = openConnection(t, server.port);

    const refused = new Collector();
    const a = await connection.request({ path: "/refuse", body: Buffer.alloc(5), end: true }, refused);
    const refusedError = expectConnectError(await refused.closed);
    assert.equal(isUnprocessed(refusedError), true);
    assert.equal(refusedError.code, Code.Unavailable);
    assert.match(refusedError.message, /REFUSED_STREAM/);
    assert.equal(a.rstCode, http2.constants.NGHTTP2_REFUSED_STREAM);
    // Wrapping keeps the mark: the retry layer sees it through `cause`.
    const wrapped = new ConnectError("retrying", Code.Unavailable, undefined, undefined, refusedError);
    assert.equal(isUnprocessed(wrapped), true);

    const failed = new Collector();
    const b = await connection.request({ path: "/fail", body: Buffer.alloc(5), end: true }, failed);
    const failedError = expectConnectError(await failed.closed);
    assert.equal(isUnprocessed(failedError), false);
    assert.equal(failedError.code, Code.Unavailable);
    assert.match(failedError.message, /INTERNAL_ERROR/);
    assert.equal(b.rstCode, http2.constants.NGHTTP2_INTERNAL_ERROR);

    assert.equal(isUnprocessed(new Error("plain")), false);
    assert.equal(isUnprocessed(undefined), false);
    assert.equal(refused.closes.length, 1);
    assert.equal(failed.closes.length, 1);

    // A reset ends one stream, not the connection.
    const ok = new Collector();
    await connection.request({ path: "/ok", end: true }, ok);
    assert.equal(await ok.closed, undefined);
    assert.equal(ok.body.toString(), "ok");
    assert.equal(server.sessions.length, 1);
  });

  it("cancel sends RST_STREAM CANCEL and calls onClose once with the given error", limits, async (t) => {
    const server = await startServer(t, (stream, headers) => {
      if (headers[":path"] === "/ok") reply(stream, "ok");
    });
    const connection = openConnection(t, server.port);
    const call = new Collector();
    const stream = await connection.request({ path: "/etcdserverpb.Watch/Watch" }, call);
    const [held] = await server.arrived(1);
    const rstCode = serverClose(held as http2.ServerHttp2Stream);
    const reason = new ConnectError("watch cancelled", Code.Canceled);
    stream.cancel(reason);
    stream.cancel(new ConnectError("twice", Code.Canceled));
    assert.equal(await rstCode, http2.constants.NGHTTP2_CANCEL);
    assert.equal(stream.closed, true);

    // A round trip on the same connection, then its close: neither reaches the cancelled stream.
    const ok = new Collector();
    await connection.request({ path: "/ok", end: true }, ok);
    assert.equal(await ok.closed, undefined);
    connection.close();
    assert.equal(call.closes.length, 1);
    assert.equal(call.closes[0], reason);
  });

  it(
    "lets a handler cancel from onData while the frame is being read, and ignores the rest",
    limits,
    async (t) => {
      const server = await startServer(t, (stream, headers) => {
        if (headers[":path"] === "/ok") reply(stream, "ok");
        else reply(stream, randomBytes(1 << 20));
      });
      const connection = openConnection(t, server.port);
      const reason = new ConnectError("enough", Code.Canceled);
      class CancelOnData extends Collector {
        override onData(stream: Http2Stream, buf: Uint8Array, start: number, end: number): void {
          super.onData(stream, buf, start, end);
          stream.cancel(reason);
        }
      }
      const call = new CancelOnData();
      await connection.request({ path: "/etcdserverpb.Maintenance/Snapshot", end: true }, call);
      assert.equal(await call.closed, reason);
      const ok = new Collector();
      await connection.request({ path: "/ok", end: true }, ok);
      assert.equal(await ok.closed, undefined);
      assert.equal(ok.body.toString(), "ok");
      assert.equal(call.chunks.length, 1, "nothing after the cancel");
      assert.equal(call.closes.length, 1);
    },
  );
});

describe("Http2Session GOAWAY against node:http2", () => {
  it(
    "fails a stream above the last stream id as unprocessed, finishes the other, and re-dials",
    limits,
    async (t) => {
      const server = await startServer(t, (stream, headers) => {
        if (headers[":path"] === "/after") reply(stream, "after");
      });
      const connection = openConnection(t, server.port);
      const first = await connection.connect();
      const below = new Collector();
      const above = new Collector();
      const a = await connection.request({ path: "/below", end: true }, below);
      const b = await connection.request({ path: "/above", end: true }, above);
      assert.ok(a.id < b.id);
      const [heldBelow] = await server.arrived(2);
      assert.equal(connection.ready, true);
      (server.sessions[0] as http2.ServerHttp2Session).goaway(http2.constants.NGHTTP2_NO_ERROR, a.id);

      const aboveError = expectConnectError(await above.closed);
      assert.equal(isUnprocessed(aboveError), true);
      assert.equal(aboveError.code, Code.Unavailable);
      assert.match(aboveError.message, /GOAWAY/);
      assert.equal(connection.ready, false, "no new streams on a session going away");
      assert.equal(below.closes.length, 0, "the stream below the last id is still open");

      reply(heldBelow as http2.ServerHttp2Stream, "below");
      assert.equal(await below.closed, undefined);
      assert.equal(below.body.toString(), "below");
      // The old session closes its socket once its last stream is done. (Node's side of it stays
      // in CLOSE_WAIT: after its own GOAWAY, with no streams left, node stops reading the socket.)
      assert.equal(first.destroyed, true);

      const after = new Collector();
      const c = await connection.request({ path: "/after", end: true }, after);
      assert.equal(await after.closed, undefined);
      assert.equal(after.body.toString(), "after");
      assert.equal(c.id, 1, "a new session numbers its streams from 1");
      assert.equal(server.sessions.length, 2);
      assert.equal(connection.ready, true);
    },
  );
});

describe("Http2Session GOAWAY with a stream waiting for a slot", () => {
  it(
    "fails the waiting stream as unprocessed without sending it, and finishes the open one",
    limits,
    async (t) => {
      const server = await startServer(t, () => {}, { settings: { maxConcurrentStreams: 1 } });
      const connection = openConnection(t, server.port);
      await connection.connect();
      const open = new Collector();
      const waiting = new Collector();
      const a = connection.openStream({ path: "/etcdserverpb.KV/Put", end: true }, open);
      const w = connection.openStream({ path: "/etcdserverpb.KV/Put", end: true }, waiting);
      assert.ok(a !== undefined);
      assert.equal(w?.id, 0);
      const [held] = (await server.arrived(1)) as [http2.ServerHttp2Stream];
      (server.sessions[0] as http2.ServerHttp2Session).goaway(http2.constants.NGHTTP2_NO_ERROR, a.id);

      const error = expectConnectError(await waiting.closed);
      assert.equal(isUnprocessed(error), true);
      assert.equal(open.closes.length, 0);
      reply(held, "open");
      assert.equal(await open.closed, undefined);
      assert.equal(open.body.toString(), "open");
      assert.equal(server.streams.length, 1, "the waiting stream never went out");
      assert.equal(w.id, 0);
    },
  );
});

describe("a stream's messages that wait for the reader", () => {
  // Trailers come after every DATA frame: once they are in, everything the server sent has
  // arrived, and what the reader has not taken waits in the call. A stream that failed never
  // gets them: after 10 s (a guard, not a timing assert) the reading shows why.
  async function arrivedWhole(trailer: Headers): Promise<void> {
    const giveUpAt = Date.now() + 10_000;
    while (!trailer.has("grpc-status") && Date.now() < giveUpAt) await nextTurn();
  }

  // A streaming call answered with `body` and `trailers` (status OK unless given), once all of it
  // has arrived unread.
  async function answeredUnread<I extends DescMessage, O extends DescMessage>(
    t: TestContext,
    body: Buffer,
    method: DescMethodStreaming<I, O>,
    requests: AsyncIterable<MessageInitShape<I>>,
    call: { trailers?: http2.OutgoingHttpHeaders; timeoutMs?: number } = {},
  ): Promise<AsyncIterable<MessageShape<O>>> {
    const trailers = call.trailers ?? { "grpc-status": "0" };
    const server = await startServer(t, (stream) => reply(stream, body, trailers));
    const connection = openConnection(t, server.port);
    const response = await streamCallOn(connection)(method, undefined, call.timeoutMs, undefined, requests);
    await arrivedWhole(response.trailer);
    return response.message;
  }

  // Reads until the stream ends: how many messages, and what it failed with, if it did.
  async function readToEnd(messages: AsyncIterable<unknown>): Promise<{ read: number; failure: unknown }> {
    let read = 0;
    try {
      for await (const _message of messages) read++;
    } catch (failure) {
      return { read, failure };
    }
    return { read, failure: undefined };
  }

  function keepAliveAnswer(id: number): Buffer {
    const message = create(LeaseKeepAliveResponseSchema, { ID: BigInt(id), TTL: 5n });
    return envelope(toBinary(LeaseKeepAliveResponseSchema, message));
  }

  it(
    "70,000 small messages that all arrived before the reader started are all read, in order",
    limits,
    async (t) => {
      // 70,000 answers of 9 bytes are 980 KB, inside the stream's window. Kept as messages they
      // were an object each, so their count was capped at 65,536 and the stream failed past it;
      // a watch of small events whose reader falls behind sends that many.
      const count = 70_000;
      const body = Buffer.concat(Array.from({ length: count }, (_, i) => keepAliveAnswer(i + 1)));
      const messages = await answeredUnread(t, body, Lease.method.leaseKeepAlive, keepAlives([1n]));
      let next = 1n;
      for await (const message of messages) {
        if (message.ID !== next) assert.fail(`message ${next} read as ${message.ID}`);
        next++;
      }
      assert.equal(next, BigInt(count + 1));
    },
  );

  it(
    "messages of every size, across DATA frames, that waited for the reader are read whole",
    limits,
    async (t) => {
      // Small answers between ones of up to 60 KB (four frames each): cut from the kept bytes
      // piece by piece, some start in one piece and end in the next.
      const sizes = Array.from({ length: 120 }, (_, i) => (i % 3 === 0 ? (i * 7919) % 60_000 : i % 50));
      const values = sizes.map((size) => randomBytes(size));
      const body = Buffer.concat(
        values.map((value, i) =>
          envelope(
            toBinary(
              WatchResponseSchema,
              create(WatchResponseSchema, {
                watchId: BigInt(i),
                events: [{ kv: { key: Buffer.from(`k${i}`), value } }],
              }),
            ),
          ),
        ),
      );
      const messages = await answeredUnread(t, body, Watch.method.watch, watchRequests([Buffer.from("k")]));
      let i = 0;
      for await (const message of messages) {
        assert.equal(message.watchId, BigInt(i));
        const value = message.events[0]?.kv?.value ?? new Uint8Array();
        assert.equal(sha256(value), sha256(values[i] as Uint8Array), `message ${i}`);
        i++;
      }
      assert.equal(i, values.length);
    },
  );

  it(
    "a stream that ended inside a message while its data waited: the whole messages, then Internal",
    limits,
    async (t) => {
      // 5,000 answers (70 KB, several frames) and the first 3 bytes of another: whether the
      // stream ended inside a message shows only once the reader has cut what waited.
      const body = Buffer.concat([
        ...Array.from({ length: 5000 }, (_, i) => keepAliveAnswer(i + 1)),
        keepAliveAnswer(5001).subarray(0, 3),
      ]);
      const messages = await answeredUnread(t, body, Lease.method.leaseKeepAlive, keepAlives([1n]));
      const { read, failure } = await readToEnd(messages);
      assert.equal(read, 5000);
      const error = expectConnectError(failure);
      assert.equal(error.code, Code.Internal);
      assert.match(error.message, /ended inside a message/);
    },
  );

  it(
    "a status that came before the deadline while data waited is the status, read after the deadline",
    limits,
    async (t) => {
      // The status is judged as it arrives. Judged when the slow reader reached it, after the
      // deadline, the server's NotFound read as DeadlineExceeded.
      const body = Buffer.concat(Array.from({ length: 5000 }, (_, i) => keepAliveAnswer(i + 1)));
      const deadline = Date.now() + 2000;
      const messages = await answeredUnread(t, body, Lease.method.leaseKeepAlive, keepAlives([1n]), {
        trailers: { "grpc-status": "5", "grpc-message": "gone" },
        timeoutMs: 2000,
      });
      while (Date.now() <= deadline + 100) await sleep(50);
      const { read, failure } = await readToEnd(messages);
      assert.equal(read, 5000);
      assert.equal(expectConnectError(failure).code, Code.NotFound);
    },
  );
});
