import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { Code } from "@connectrpc/connect";
import { createTestCertificates } from "@etcd-connect/testing";
import { Collector, connectionOptions, expectConnectError, limits } from "../../test/http2-helpers.js";
import { reply } from "../../test/http2-peer.js";
import { Http2Connection, isTransientDialError } from "./connection.js";

// Http2Connection over a Unix domain socket (`socketPath`), plain and TLS, with node:http2
// listening on the socket as the peer.

async function socketDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "etcd-connect-unix-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

// Serves every stream with "pong", recording the :authority each one came with.
async function listenOn(
  t: TestContext,
  server: http2.Http2Server | http2.Http2SecureServer,
  path: string,
): Promise<string[]> {
  const authorities: string[] = [];
  const sessions: http2.ServerHttp2Session[] = [];
  server.on("session", (session: http2.ServerHttp2Session) => {
    sessions.push(session);
    session.on("error", () => {});
  });
  server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    stream.on("error", () => {});
    authorities.push(String(headers[":authority"]));
    reply(stream, "pong");
  });
  server.listen(path);
  await once(server, "listening");
  t.after(async () => {
    for (const session of sessions) session.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return authorities;
}

async function ping(connection: Http2Connection): Promise<string> {
  const call = new Collector();
  await connection.request({ path: "/test.Service/Ping", end: true }, call);
  assert.equal(await call.closed, undefined);
  return call.body.toString();
}

describe("Http2Connection over a Unix socket", () => {
  it("dials the socket path and sends the URL's host as :authority", limits, async (t) => {
    const path = join(await socketDir(t), "h2.sock");
    const authorities = await listenOn(t, http2.createServer(), path);
    const connection = new Http2Connection("http://localhost", { ...connectionOptions, socketPath: path });
    t.after(() => connection.close());
    assert.equal(await ping(connection), "pong");
    assert.deepEqual(authorities, ["localhost"]);
  });

  it("keeps a port the URL gives in :authority", limits, async (t) => {
    const path = join(await socketDir(t), "localhost:2379");
    const authorities = await listenOn(t, http2.createServer(), path);
    const connection = new Http2Connection("http://localhost:2379", {
      ...connectionOptions,
      socketPath: path,
    });
    t.after(() => connection.close());
    assert.equal(await ping(connection), "pong");
    assert.deepEqual(authorities, ["localhost:2379"]);
  });

  it("runs TLS over the socket, checking the certificate against the URL's host", limits, async (t) => {
    const certs = await createTestCertificates();
    t.after(() => certs.remove());
    const path = join(await socketDir(t), "h2s.sock");
    await listenOn(
      t,
      http2.createSecureServer({ cert: certs.server.cert, key: certs.server.key, ALPNProtocols: ["h2"] }),
      path,
    );
    const good = new Http2Connection("https://localhost", {
      ...connectionOptions,
      socketPath: path,
      tls: { ca: certs.ca.cert },
    });
    t.after(() => good.close());
    assert.equal(await ping(good), "pong");

    // The test certificate names localhost and 127.0.0.1 only.
    const wrongName = new Http2Connection("https://etcd.example", {
      ...connectionOptions,
      socketPath: path,
      tls: { ca: certs.ca.cert },
    });
    t.after(() => wrongName.close());
    const error = expectConnectError(
      await wrongName.connect().then(
        () => undefined,
        (e: unknown) => e,
      ),
    );
    assert.match(error.message, /etcd\.example/);
    assert.equal(isTransientDialError(error), false, "a certificate for another name is not transient");
  });

  it("reports a missing socket file as a transient failure that names the path", limits, async (t) => {
    const path = join(await socketDir(t), "nobody.sock");
    const connection = new Http2Connection("http://localhost", { ...connectionOptions, socketPath: path });
    t.after(() => connection.close());
    const error = expectConnectError(
      await connection.connect().then(
        () => undefined,
        (e: unknown) => e,
      ),
    );
    assert.equal(error.code, Code.Unavailable);
    assert.match(error.message, /unix socket .*nobody\.sock.*ENOENT/);
    assert.equal(isTransientDialError(error), true);
  });
});
