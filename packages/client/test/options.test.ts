import assert from "node:assert/strict";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttp2Server } from "node:http2";
import { type AddressInfo, createServer as createTcpServer, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import type { Interceptor } from "@connectrpc/connect";
import { type Client, createClient, EtcdError } from "@etcd-connect/client";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";

function listen(server: Server | ReturnType<typeof createTcpServer> | ReturnType<typeof createHttp2Server>) {
  return new Promise<string>((resolve) => {
    server.listen(0, "127.0.0.1", () => resolve(`127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

describe("client options against a real etcd", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  before(async () => {
    etcd = await startEtcd();
    client = createClient({ endpoints: [etcd.clientUrl] });
  });
  after(async () => {
    await client?.close();
    await etcd?.close();
  });

  it("requestTimeoutMs bounds unary calls; per-call timeoutMs overrides it", async () => {
    await using bounded = createClient({ endpoints: [etcd.clientUrl], requestTimeoutMs: 300 });
    // The calls that must succeed get deadlines of their own: a loaded machine could take 300 ms
    // to dial, or to answer right after the resume.
    await bounded.put("opt/t", "v", { timeoutMs: 10_000 });
    await etcd.pause();
    try {
      await assert.rejects(bounded.get("opt/t"), (e: unknown) => EtcdError.is(e, "deadline_exceeded"));
      await assert.rejects(bounded.get("opt/t", { timeoutMs: 200 }), (e: unknown) =>
        EtcdError.is(e, "deadline_exceeded"),
      );
    } finally {
      await etcd.resume();
    }
    assert.equal(await bounded.getText("opt/t", { timeoutMs: 10_000 }), "v");
  });

  it("clamps huge deadlines to what grpc-timeout can carry", async () => {
    await using huge = createClient({ endpoints: [etcd.clientUrl], requestTimeoutMs: 1e12 });
    await huge.put("opt/huge", "v", { timeoutMs: 5e9 });
    assert.equal(await huge.getText("opt/huge", { timeoutMs: 1e8 }), "v");
  });

  it("maxCallRecvMsgSize fails a too-large response with message_too_large", async () => {
    await client.put("opt/big", "x".repeat(100 * 1024));
    await using small = createClient({
      endpoints: [etcd.clientUrl],
      maxCallSendMsgSize: 32 * 1024,
      maxCallRecvMsgSize: 64 * 1024,
    });
    await assert.rejects(small.get("opt/big"), (e: unknown) => {
      assert.ok(EtcdError.is(e, "message_too_large"), String(e));
      assert.match((e as Error).message, /maxCallRecvMsgSize/);
      return true;
    });
    assert.equal(await small.exists("opt/big"), true);
  });

  it("runs user interceptors once per call, outside retries", async () => {
    const seen: string[] = [];
    const spy: Interceptor = (next) => async (req) => {
      seen.push(`${req.service.typeName}/${req.method.name}`);
      return next(req);
    };
    await using spied = createClient({ endpoints: [etcd.clientUrl], interceptors: [spy] });
    await spied.put("opt/i", "v");
    await spied.get("opt/i");
    assert.deepEqual(seen, ["etcdserverpb.KV/Put", "etcdserverpb.KV/Range"]);
  });

  it("rejectOldCluster accepts etcd 3.4 and newer", async () => {
    await using strict = createClient({ endpoints: [etcd.clientUrl], rejectOldCluster: true });
    await strict.put("opt/new-enough", "v");
    assert.equal(await strict.getText("opt/new-enough"), "v");
  });

  it("setEndpoints replaces the endpoint list", async () => {
    await using moving = createClient({ endpoints: ["127.0.0.1:1"], dialTimeoutMs: 500 });
    moving.setEndpoints([etcd.clientUrl]);
    assert.deepEqual(moving.endpoints, [new URL(etcd.clientUrl).origin]);
    await moving.put("opt/moved", "v");
  });
});

describe("endpoints that are not etcd", () => {
  it("an HTTP/1.1 server is reported as not etcd", async () => {
    const server = createHttpServer((_, res) => res.end("hello"));
    const endpoint = await listen(server);
    try {
      await using c = createClient({ endpoints: [endpoint], dialTimeoutMs: 1000 });
      await assert.rejects(c.get("k", { timeoutMs: 3000 }), (e: unknown) => {
        assert.ok(EtcdError.is(e, "not_etcd"), String(e));
        assert.match((e as Error).message, /not an etcd/);
        return true;
      });
    } finally {
      server.close();
    }
  });

  it("an HTTP/2 server that does not speak gRPC is reported as not etcd", async () => {
    const server = createHttp2Server((_, res) => {
      res.writeHead(404, { "content-type": "text/html" });
      res.end("<h1>no</h1>");
    });
    const endpoint = await listen(server);
    try {
      await using c = createClient({ endpoints: [endpoint], dialTimeoutMs: 1000 });
      await assert.rejects(c.get("k", { timeoutMs: 3000 }), (e: unknown) => {
        assert.ok(EtcdError.is(e, "not_etcd"), String(e));
        return true;
      });
    } finally {
      server.close();
    }
  });

  it("a TLS handshake that never completes fails after dialTimeoutMs", async () => {
    const sockets: Socket[] = [];
    const silent = createTcpServer((socket) => sockets.push(socket));
    const endpoint = await listen(silent);
    try {
      await using c = createClient({ endpoints: [`https://${endpoint}`], dialTimeoutMs: 300, tls: {} });
      await assert.rejects(c.get("k"), (e: unknown) => {
        assert.ok(EtcdError.is(e, "unavailable"), String(e));
        assert.match((e as Error).message, /dialTimeoutMs/);
        return true;
      });
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});
