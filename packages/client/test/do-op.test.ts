import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Interceptor } from "@connectrpc/connect";
import {
  type Client,
  compare,
  createClient,
  type DeleteRangeResponse,
  EtcdError,
  type OpResponse,
  opDelete,
  opGet,
  opPut,
  opTxn,
  type PutResponse,
  type RangeResponse,
  type RequestOp,
  type TxnResponse,
} from "@etcd-connect/client";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";

// client.do(op), Go's KV.Do: an op built for a txn, sent on its own.

describe("client.do(op)", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  const sent: string[] = [];
  const spy: Interceptor = (next) => (req) => {
    sent.push(req.method.name);
    return next(req);
  };
  before(async () => {
    etcd = await startEtcd();
    client = createClient({ endpoints: [etcd.clientUrl], interceptors: [spy] });
  });
  after(async () => {
    await client?.close();
    await etcd?.close();
  });

  it("runs each kind of op as its own call and tags the response with the kind", async () => {
    sent.length = 0;
    // The types follow the builders: no narrowing needed to reach each response's fields.
    const put: { op: "put"; response: PutResponse } = await client.do(opPut("do/a", "1", { prevKv: true }));
    assert.equal(put.op, "put");
    assert.ok((put.response.header?.revision ?? 0n) > 0n);
    await client.do(opPut("do/b", "2"));

    const get: { op: "get"; response: RangeResponse } = await client.do(opGet("do/", { prefix: true }));
    assert.equal(get.op, "get");
    assert.deepEqual(
      get.response.kvs.map((kv) => new TextDecoder().decode(kv.value)),
      ["1", "2"],
    );

    const txn: { op: "txn"; response: TxnResponse } = await client.do(
      opTxn([compare.value("do/a", "=", "1")], [opPut("do/a", "3")], [opGet("do/a")]),
    );
    assert.equal(txn.op, "txn");
    assert.equal(txn.response.succeeded, true);
    assert.equal(await client.getText("do/a"), "3");

    const del: { op: "delete"; response: DeleteRangeResponse } = await client.do(
      opDelete("do/", { prefix: true }),
    );
    assert.equal(del.op, "delete");
    assert.equal(del.response.deleted, 2n);
    assert.deepEqual(sent, ["Put", "Put", "Range", "Txn", "Range", "DeleteRange"]);
  });

  it("answers the union for an op of unknown kind; a switch on op narrows it", async () => {
    const ops: RequestOp[] = [opPut("do/u", "x"), opGet("do/u")];
    const kinds: string[] = [];
    for (const op of ops) {
      const res: OpResponse = await client.do(op);
      switch (res.op) {
        case "put":
          kinds.push(`put@${res.response.header?.revision}`);
          break;
        case "get":
          kinds.push(`get:${res.response.count}`);
          break;
        default:
          kinds.push(res.op);
      }
    }
    assert.match(kinds[0] ?? "", /^put@\d+$/);
    assert.equal(kinds[1], "get:1");
  });

  it("reports etcd's own failures as EtcdErrors", async () => {
    await client.put("do/compacted", "1");
    const second = await client.put("do/compacted", "2");
    await client.compact(second.header?.revision ?? 0n);
    await assert.rejects(client.do(opGet("do/compacted", { revision: 1 })), (error: unknown) =>
      EtcdError.is(error, "compacted"),
    );
  });

  it("refuses an op that is not one, before anything is sent", async () => {
    sent.length = 0;
    const bad: unknown[] = [
      undefined,
      {},
      { $typeName: "etcdserverpb.RequestOp", request: { case: undefined } },
      {
        $typeName: "etcdserverpb.RequestOp",
        request: { case: "requestPut", value: { key: new Uint8Array() } },
      },
    ];
    for (const op of bad) {
      await assert.rejects(client.do(op as RequestOp), (error: unknown) => {
        assert.ok(EtcdError.is(error, "invalid_argument"), String(error));
        return true;
      });
    }
    assert.deepEqual(sent, []);
  });
});
