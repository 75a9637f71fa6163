import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createRouterTransport, type Transport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { Auth, KV } from "@etcd-connect/api/etcdserverpb";
import { KeyValueSchema } from "@etcd-connect/api/mvccpb";
import { type Client, createClient, EtcdError, opGet, opPut } from "@etcd-connect/client";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";

// createClient({ transport }): the facades, retries and auth over a Connect Transport we did not
// build: connect-node's gRPC transport against a real etcd, and a router transport with a fake KV.

// Records the hasleader header of every call that reaches the transport.
function recording(inner: Transport, seen: Array<string | null>): Transport {
  return {
    unary(method, signal, timeoutMs, header, input, contextValues) {
      seen.push(new Headers(header).get("hasleader"));
      return inner.unary(method, signal, timeoutMs, header, input, contextValues);
    },
    stream(method, signal, timeoutMs, header, input, contextValues) {
      seen.push(new Headers(header).get("hasleader"));
      return inner.stream(method, signal, timeoutMs, header, input, contextValues);
    },
  };
}

describe("a connect-node gRPC transport against a real etcd", integrationOptions(), () => {
  let etcd: EtcdMember;
  let sessions: Http2SessionManager;
  let transport: Transport;
  let client: Client;
  let dir: string;
  const hasLeader: Array<string | null> = [];
  before(async () => {
    [etcd, dir] = await Promise.all([startEtcd(), mkdtemp(join(tmpdir(), "etcd-connect-custom-"))]);
    sessions = new Http2SessionManager(etcd.clientUrl);
    transport = createGrpcTransport({ baseUrl: etcd.clientUrl, sessionManager: sessions });
    client = createClient({ transport: recording(transport, hasLeader) });
  });
  after(async () => {
    await client?.close();
    sessions?.abort();
    await etcd?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("runs KV, txn, do, watch and lease calls, each asking for a leader", async () => {
    hasLeader.length = 0;
    const watcher = client.watch("custom/", { prefix: true });
    await watcher.ready;
    await client.put("custom/a", "1");
    assert.equal(await client.getText("custom/a"), "1");
    const txn = await client.txn().then(opPut("custom/b", "2"), opGet("custom/a")).commit();
    assert.equal(txn.succeeded, true);
    assert.equal((await client.do(opGet("custom/", { prefix: true }))).response.count, 2n);
    for await (const batch of watcher) {
      assert.equal(batch.events.length, 1);
      break;
    }
    const { ID } = await client.lease.grant(5);
    assert.equal((await client.lease.keepAliveOnce(ID)).ID, ID);
    await client.lease.revoke(ID);
    assert.ok(hasLeader.length >= 8, `${hasLeader.length} calls`);
    assert.deepEqual(new Set(hasLeader), new Set(["true"]));
    assert.equal((await client.get("custom/a", { requireLeader: false })).count, 1n);
    assert.equal(hasLeader.at(-1), null, "a call's requireLeader: false sends none");
  });

  it("saves a snapshot with the member's version; no endpoint list, no per-member calls", async () => {
    const saved = await client.maintenance.snapshotToFile(join(dir, "custom.db"));
    assert.equal(saved.memberId, await etcd.memberId());
    assert.match(saved.version, /^3\.4\./);
    assert.deepEqual(client.endpoints, []);
    const noEndpoints = (error: unknown) =>
      EtcdError.is(error, "invalid_argument") && /custom transport/.test(error.message);
    assert.throws(() => client.rpcAt(etcd.clientUrl), noEndpoints);
    assert.throws(() => client.setEndpoints([etcd.clientUrl]), noEndpoints);
    await assert.rejects(client.sync(), noEndpoints);
    await assert.rejects(client.maintenance.status(etcd.clientUrl), noEndpoints);
  });

  it("leaves the transport open when the client closes", async () => {
    const other = createClient({ transport });
    await other.put("custom/closed", "v");
    await other.close();
    await assert.rejects(other.get("custom/closed"), (error: unknown) => EtcdError.is(error, "closed"));
    assert.equal(await client.getText("custom/closed"), "v");
  });
});

describe("a router transport with a fake KV (no etcd)", () => {
  const value = (text: string) =>
    create(KeyValueSchema, { key: new TextEncoder().encode("k"), value: new TextEncoder().encode(text) });

  it("retries a read the fake fails as Unavailable, and never a write", async () => {
    let ranges = 0;
    let puts = 0;
    const transport = createRouterTransport(({ service }) => {
      service(KV, {
        range() {
          ranges++;
          if (ranges < 3) throw new ConnectError("etcdserver: leader changed", Code.Unavailable);
          return { kvs: [value("fake")], count: 1n };
        },
        put() {
          puts++;
          throw new ConnectError("connection reset", Code.Unavailable);
        },
      });
    });
    await using client = createClient({ transport, retry: { backoffMs: 1 } });
    assert.equal(await client.getText("k"), "fake");
    assert.equal(ranges, 3);
    // The fake cannot prove the write never arrived: it fails once, as possibly applied.
    await assert.rejects(client.put("k", "v"), (error: unknown) => {
      assert.ok(EtcdError.is(error, "unavailable"), String(error));
      assert.equal(error.indeterminate, true);
      return true;
    });
    assert.equal(puts, 1);
  });

  it("authenticates, sends the token, and fetches a new one when it is refused", async () => {
    const issued: string[] = [];
    const seen: string[] = [];
    const transport = createRouterTransport(({ service }) => {
      service(Auth, {
        authenticate(req) {
          assert.equal(req.name, "alice");
          const token = `token-${issued.length + 1}`;
          issued.push(token);
          return { token };
        },
      });
      service(KV, {
        range(_req, ctx) {
          const token = ctx.requestHeader.get("token") ?? "";
          seen.push(token);
          if (token === "token-1" && seen.length > 1) {
            throw new ConnectError("etcdserver: invalid auth token", Code.Unauthenticated);
          }
          return { kvs: [value(token)], count: 1n };
        },
      });
    });
    await using client = createClient({ transport, username: "alice", password: "secret" });
    assert.equal(await client.getText("k"), "token-1");
    assert.equal(await client.getText("k"), "token-2");
    assert.deepEqual(seen, ["token-1", "token-1", "token-2"]);
    assert.deepEqual(issued, ["token-1", "token-2"]);
  });

  it("bounds calls with requestTimeoutMs, and the handler sees the cancellation", async () => {
    let cancelled: Promise<void> | undefined;
    const transport = createRouterTransport(({ service }) => {
      service(KV, {
        range(_req, ctx) {
          cancelled = new Promise((resolve) => ctx.signal.addEventListener("abort", () => resolve()));
          return new Promise(() => {});
        },
      });
    });
    await using client = createClient({ transport, requestTimeoutMs: 100, retry: false });
    await assert.rejects(client.get("k"), (error: unknown) => EtcdError.is(error, "deadline_exceeded"));
    await cancelled;
  });

  it("ends a call in flight with reason closed when the client closes", async () => {
    let arrived = () => {};
    const arrival = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const transport = createRouterTransport(({ service }) => {
      service(KV, {
        range() {
          arrived();
          return new Promise(() => {});
        },
      });
    });
    const client = createClient({ transport });
    const inFlight = client.get("k");
    await arrival;
    await client.close();
    await assert.rejects(inFlight, (error: unknown) => EtcdError.is(error, "closed"));
  });

  it("refuses endpoints and connection options next to a transport", () => {
    const transport = createRouterTransport(() => {});
    assert.throws(
      () => createClient({ transport, endpoints: ["http://127.0.0.1:2379"] }),
      (error: unknown) => EtcdError.is(error, "invalid_argument") && /not both/.test(error.message),
    );
    assert.throws(
      () => createClient({ transport, tls: {}, silenceProbeMs: 100 }),
      (error: unknown) =>
        EtcdError.is(error, "invalid_argument") &&
        /tls, silenceProbeMs configure the built-in/.test(error.message),
    );
  });
});
