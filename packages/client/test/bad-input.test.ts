import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Client, createClient, EtcdError, opPut } from "@etcd-connect/client";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";

// etcd's own gRPC counters: a request that reaches the server moves them.
async function startedCalls(etcd: EtcdMember): Promise<number> {
  const res = await fetch(`${etcd.directClientUrl}/metrics`);
  const body = await res.text();
  let total = 0;
  for (const line of body.split("\n")) {
    if (line.startsWith("grpc_server_started_total{")) total += Number(line.split(" ").pop());
  }
  return total;
}

function invalid(e: unknown): boolean {
  assert.ok(e instanceof EtcdError, String(e));
  assert.ok(e.reason === "invalid_argument" || e.reason === "message_too_large", e.reason);
  return true;
}

describe("bad input is rejected before anything is sent", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  before(async () => {
    etcd = await startEtcd();
    client = createClient({ endpoints: [etcd.clientUrl], maxCallSendMsgSize: 64 * 1024 });
    await client.put("warm", "up"); // the connection exists, so nothing below is a dial
  });
  after(async () => {
    await client?.close();
    await etcd?.close();
  });

  it("sends no request for any rejected call", async () => {
    const before = await startedCalls(etcd);
    assert.ok(before > 0);
    await assert.rejects(client.put("", "v"), invalid);
    await assert.rejects(client.get(""), invalid);
    await assert.rejects(client.delete(""), invalid);
    await assert.rejects(client.put("big", "x".repeat(65 * 1024)), (e: unknown) => {
      invalid(e);
      assert.match((e as Error).message, /maxCallSendMsgSize/);
      return true;
    });
    await assert.rejects(client.get("k", { revision: -1 }), invalid);
    await assert.rejects(client.get("k", { limit: 1.5 }), invalid);
    await assert.rejects(client.get("k", { limit: -3n }), invalid);
    await assert.rejects(client.compact(-1), invalid);
    const ops = Array.from({ length: 129 }, (_, i) => opPut(`k${i}`, "v"));
    await assert.rejects(
      client
        .txn()
        .then(...ops)
        .commit(),
      (e: unknown) => {
        invalid(e);
        assert.match((e as Error).message, /128/);
        return true;
      },
    );
    assert.throws(() => client.txn().then().if(), invalid);
    // etcd refuses a watch over an empty range ("watcher range is empty"): said before it opens.
    assert.throws(() => client.watch("b", { rangeEnd: "a" }), invalid);
    assert.throws(() => client.watch("b", { rangeEnd: "b" }), invalid);
    assert.throws(() => client.watch("bb", { rangeEnd: "b" }), invalid);
    assert.throws(() => createClient({ endpoints: ["ftp://127.0.0.1:1"] }), invalid);
    assert.throws(() => createClient({ endpoints: [] }), invalid);
    assert.throws(() => client.setEndpoints(["http://bad host:1"]), invalid);
    assert.equal(await startedCalls(etcd), before);
  });

  it("a txn of exactly 128 ops is accepted by etcd", async () => {
    const ops = Array.from({ length: 128 }, (_, i) => opPut(`ok${i}`, "v"));
    const res = await client
      .txn()
      .then(...ops)
      .commit();
    assert.equal(res.succeeded, true);
  });
});
