import assert from "node:assert/strict";
import { once } from "node:events";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import * as tls from "node:tls";
import { Code, ConnectError } from "@connectrpc/connect";
import { Watch } from "@etcd-connect/api/etcdserverpb";
import { createFaultProxy, createTestCertificates } from "@etcd-connect/testing";
import { frameType } from "../../test/frame-tap.js";
import {
  Collector,
  connectionOptions,
  expectConnectError,
  limits,
  openConnection,
  streamCallOn,
  watchRequests,
} from "../../test/http2-helpers.js";
import { freePort, reply, serverClose, startRawServer, startServer } from "../../test/http2-peer.js";
import { Http2Connection, isTransientDialError } from "./connection.js";
import { isUnprocessed } from "./unprocessed.js";

// Http2Connection's dial, liveness and teardown, with node:http2 as the peer (server PINGs, a
// server that drops the connection) and raw TCP peers (one that is not HTTP/2, one that never
// sends SETTINGS, one that falls silent).

describe("Http2Connection dial", () => {
  it("rejects a server that is not HTTP/2 as not etcd, and not transient", limits, async (t) => {
    const raw = await startRawServer(t, (socket) => {
      socket.resume();
      socket.end("HTTP/1.1 400 Bad Request\r\n\r\n");
    });
    const connection = openConnection(t, raw.port);
    const error = await connection.connect().then(
      () => assert.fail("connected to an HTTP/1.1 server"),
      (e: unknown) => e,
    );
    const connectError = expectConnectError(error);
    assert.match(connectError.message, /is not an etcd gRPC server/);
    assert.equal(connectError.code, Code.Unavailable);
    assert.equal(isTransientDialError(error), false);
    assert.equal(connection.ready, false);
  });

  it("refuses a TLS server that does not negotiate h2 (ALPN), as not etcd", limits, async (t) => {
    const certs = await createTestCertificates();
    t.after(() => certs.remove());
    // A TLS server that knows nothing of ALPN (a plain HTTPS or TLS service): the handshake
    // succeeds with no protocol agreed. (One that offers only http/1.1 ends the handshake itself.)
    let answered = false;
    const server = tls.createServer({
      cert: certs.server.cert,
      key: certs.server.key,
    });
    server.on("secureConnection", (socket) => {
      socket.on("error", () => {});
      socket.on("data", () => {
        answered = true;
      });
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const connection = new Http2Connection(`https://127.0.0.1:${(server.address() as AddressInfo).port}`, {
      ...connectionOptions,
      tls: { ca: certs.ca.cert },
    });
    t.after(() => connection.close());
    const error = await connection.connect().then(
      () => assert.fail("connected to a server without h2"),
      (e: unknown) => e,
    );
    const connectError = expectConnectError(error);
    assert.match(connectError.message, /is not an etcd gRPC server.*did not negotiate HTTP\/2/);
    assert.equal(isTransientDialError(error), false);
    assert.equal(answered, false, "no HTTP/2 bytes were sent to it");
  });

  it("rejects a closed port with a transient error", limits, async (t) => {
    const port = await freePort();
    const connection = openConnection(t, port);
    const error = await connection.connect().then(
      () => assert.fail(`connected to the closed port ${port}`),
      (e: unknown) => e,
    );
    const connectError = expectConnectError(error);
    assert.match(connectError.message, /ECONNREFUSED/);
    assert.equal(connectError.code, Code.Unavailable);
    assert.equal(isTransientDialError(error), true);
  });

  it(
    "times out on a server that accepts but never sends SETTINGS, transiently, and closes the socket",
    limits,
    async (t) => {
      const raw = await startRawServer(t, (socket) => socket.resume());
      const connection = openConnection(t, raw.port, { dialTimeoutMs: 200 });
      const error = await connection.connect().then(
        () => assert.fail("connected without SETTINGS"),
        (e: unknown) => e,
      );
      assert.match(expectConnectError(error).message, /within dialTimeoutMs/);
      assert.equal(isTransientDialError(error), true);
      await raw.socketsClosed[0];
    },
  );

  it("shares one dial between concurrent connects, and refuses to connect after close", limits, async (t) => {
    const server = await startServer(t, () => {});
    const connection = openConnection(t, server.port);
    const [first, second] = await Promise.all([connection.connect(), connection.connect()]);
    assert.equal(first, second);
    assert.equal(server.sessions.length, 1);
    connection.close();
    assert.equal(connection.ready, false);
    await assert.rejects(
      connection.connect(),
      (error: unknown) => error instanceof ConnectError && error.code === Code.Canceled,
    );
    await server.socketsClosed[0];
  });

  it("drops a session whose dial completes after close(), instead of keeping it open", limits, async (t) => {
    const server = await startServer(t, () => {});
    const connection = openConnection(t, server.port);
    const dialing = connection.connect();
    // Closed while the TCP connection and the SETTINGS exchange are still under way.
    connection.close();
    await assert.rejects(
      dialing,
      (error: unknown) => error instanceof ConnectError && error.code === Code.Canceled,
    );
    assert.equal(connection.ready, false);
    // The server saw the connection and then its end: the socket was not kept.
    assert.equal(server.socketsClosed.length, 1);
    await server.socketsClosed[0];
  });
});

describe("Http2Session PING against node:http2", () => {
  it("answers the server's PING with its payload", limits, async (t) => {
    const server = await startServer(t, () => {});
    const connection = openConnection(t, server.port);
    await connection.connect();
    const serverSession = server.sessions[0] as http2.ServerHttp2Session;
    const payload = Buffer.from("etcd-ok!");
    const answer = await new Promise<{ error: Error | null; echoed: Buffer }>((resolve) => {
      serverSession.ping(payload, (error, _duration, echoed) => resolve({ error, echoed }));
    });
    assert.equal(answer.error, null);
    assert.deepEqual(answer.echoed, payload);
  });

  it("hears node's answer to its own PING", limits, async (t) => {
    const server = await startServer(t, () => {});
    const connection = openConnection(t, server.port);
    const session = await connection.connect();
    await new Promise<void>((resolve) => session.ping(resolve));
    assert.equal(session.destroyed, false);
  });

  it(
    "a connection that stops answering: reads fail over at once, then every call with the connection",
    limits,
    async (t) => {
      // SETTINGS, then nothing: a member that is paused or black-holed.
      const settings = Buffer.from([0, 0, 0, frameType.settings, 0, 0, 0, 0, 0]);
      const raw = await startRawServer(t, (socket) => {
        socket.resume();
        socket.write(settings);
      });
      const deaths: ConnectError[] = [];
      const responsive: boolean[] = [];
      const connection: Http2Connection = openConnection(t, raw.port, {
        keepAliveTimeoutMs: 3000,
        onDead: (error) => deaths.push(error),
        onResponsive: (r) => {
          responsive.push(r);
          if (!r) connection.failRetrySafe("the member stopped answering");
        },
      });
      const write = new Collector();
      const read = new Collector();
      await connection.request(
        { path: "/etcdserverpb.KV/Put", probe: true, body: Buffer.alloc(5), end: true },
        write,
      );
      await connection.request(
        { path: "/etcdserverpb.KV/Range", probe: true, retrySafe: true, body: Buffer.alloc(5), end: true },
        read,
      );
      // The read fails when the probe goes unanswered; the write keeps waiting until the
      // connection is given up for dead.
      const readError = expectConnectError(await read.closed);
      assert.equal(readError.code, Code.Unavailable);
      assert.equal(readError.message, "[unavailable] the member stopped answering");
      assert.deepEqual(responsive, [false]);
      assert.equal(write.closes.length, 0);
      const error = expectConnectError(await write.closed);
      assert.equal(error.code, Code.Unavailable);
      assert.match(error.message, /PING to .* not answered within keepAliveTimeoutMs \(3000 ms\)/);
      assert.deepEqual(
        deaths.map((e) => e.message),
        [error.message],
      );
      assert.equal(connection.ready, false);
      await raw.socketsClosed[0];
    },
  );
});

describe("Http2Connection teardown against node:http2", () => {
  it(
    "aborting a call the server holds resets it, and closing the connection closes the socket",
    limits,
    async (t) => {
      const server = await startServer(t, () => {});
      const connection = openConnection(t, server.port);
      const streamCall = streamCallOn(connection);
      const controller = new AbortController();
      // The server never answers: the call itself (not a read of its messages) is what fails.
      const call = streamCall(
        Watch.method.watch,
        controller.signal,
        undefined,
        undefined,
        watchRequests([Buffer.from("create")]),
      );
      const [held] = await server.arrived(1);
      const rstCode = serverClose(held as http2.ServerHttp2Stream);
      controller.abort(new Error("caller left"));
      await assert.rejects(
        call,
        (error: unknown) => error instanceof ConnectError && error.code === Code.Canceled,
      );
      assert.equal(await rstCode, http2.constants.NGHTTP2_CANCEL);

      connection.close();
      await server.socketsClosed[0];
      assert.equal((server.sessions[0] as http2.ServerHttp2Session).closed, true);
    },
  );

  it(
    "after a GOAWAY that keeps a held call, a server that stops answering PINGs fails it",
    limits,
    async (t) => {
      // The GOAWAY takes the session off new calls; the held call has no other check of the peer
      // (the keepalive follows the current session), so the draining session gets its own.
      const server = await startServer(t, () => {});
      // Through a proxy, which can make the server fall silent without closing anything.
      const proxy = await createFaultProxy({ target: { host: "127.0.0.1", port: server.port } });
      t.after(() => proxy.close());
      const connection = openConnection(t, proxy.port, { keepAliveTimeMs: 200, keepAliveTimeoutMs: 300 });
      const call = new Collector();
      await connection.request({ path: "/etcdserverpb.Watch/Watch", probe: true }, call);
      const [held] = await server.arrived(1);
      (held as http2.ServerHttp2Stream).respond({ ":status": 200, "content-type": "application/grpc" });
      const session = server.sessions[0] as http2.ServerHttp2Session;
      session.goaway(http2.constants.NGHTTP2_NO_ERROR, 2 ** 31 - 1);
      // Then silence: nothing passes any more, so no PING is answered.
      await new Promise((resolve) => setTimeout(resolve, 50));
      proxy.blackhole();
      const error = expectConnectError(await call.closed);
      assert.equal(error.code, Code.Unavailable);
      assert.match(error.message, /not answered .* after its GOAWAY/);
    },
  );

  it("closing the connection fails a call held on a session draining after GOAWAY", limits, async (t) => {
    const server = await startServer(t, () => {});
    const connection = openConnection(t, server.port);
    const call = new Collector();
    await connection.request({ path: "/etcdserverpb.Watch/Watch", probe: true }, call);
    const [held] = await server.arrived(1);
    (held as http2.ServerHttp2Stream).respond({ ":status": 200, "content-type": "application/grpc" });
    (server.sessions[0] as http2.ServerHttp2Session).goaway(http2.constants.NGHTTP2_NO_ERROR, 2 ** 31 - 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(call.closes.length, 0, "the GOAWAY kept the call");
    connection.close();
    const error = expectConnectError(await call.closed);
    assert.equal(error.code, Code.Canceled);
    await server.socketsClosed[0];
  });

  it("fails held calls when the server drops the connection, and re-dials", limits, async (t) => {
    const server = await startServer(t, (stream, headers) => {
      if (headers[":path"] === "/after") reply(stream, "after");
    });
    const deaths: ConnectError[] = [];
    const connection = openConnection(t, server.port, { onDead: (error) => deaths.push(error) });
    const call = new Collector();
    await connection.request(
      { path: "/etcdserverpb.KV/Range", probe: true, body: Buffer.alloc(5), end: true },
      call,
    );
    await server.arrived(1);
    (server.sessions[0] as http2.ServerHttp2Session).destroy();

    const error = expectConnectError(await call.closed);
    assert.equal(error.code, Code.Unavailable);
    assert.equal(isUnprocessed(error), false, "the server had the call: it may have applied it");
    assert.equal(connection.ready, false);
    // node:http2 says GOAWAY before it closes: the held call reports the failure itself, so
    // the connection does not report a death of its own (onDead is for silent deaths).
    assert.equal(deaths.length, 0);

    const after = new Collector();
    await connection.request({ path: "/after", end: true }, after);
    assert.equal(await after.closed, undefined);
    assert.equal(after.body.toString(), "after");
    assert.equal(server.sessions.length, 2);
  });

  it(
    "closing the connection under a held call fails it as Canceled and closes the socket",
    limits,
    async (t) => {
      const server = await startServer(t, () => {});
      const connection = openConnection(t, server.port);
      const call = new Collector();
      await connection.request(
        { path: "/etcdserverpb.KV/Range", probe: true, body: Buffer.alloc(5), end: true },
        call,
      );
      await server.arrived(1);
      connection.close();
      const error = expectConnectError(await call.closed);
      assert.equal(error.code, Code.Canceled);
      await server.socketsClosed[0];
      assert.equal(call.closes.length, 1);
    },
  );
});
