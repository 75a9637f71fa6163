// The namespace layer against a recording fake KV: what reaches the layer below, and what
// comes back, without a server. The real-etcd behaviour is in test/.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  bytesToText,
  compare,
  EtcdError,
  type KeyValue,
  type KV,
  opDelete,
  opGet,
  opPut,
  opTxn,
  type RangeResponse,
  type RequestOp,
  type ResponseOp,
  Txn,
  type TxnResponse,
} from "@etcd-connect/client";
import { namespaceKV } from "./namespace-kv.js";

type TxnRequest = Parameters<ConstructorParameters<typeof Txn>[0]>[0];

const text = (value: string) => new TextEncoder().encode(value);

function keyValue(key: string): KeyValue {
  return {
    $typeName: "mvccpb.KeyValue",
    key: text(key),
    value: text("v"),
    createRevision: 1n,
    modRevision: 1n,
    version: 1n,
    lease: 0n,
  };
}

function rangeResponse(...keys: string[]): RangeResponse {
  return { $typeName: "etcdserverpb.RangeResponse", kvs: keys.map(keyValue), more: false, count: 0n };
}

/** A KV that records what it was asked and answers with canned responses. */
function recordingKV(answers: { range?: RangeResponse; txn?: TxnResponse } = {}) {
  const calls: Array<{ method: string; key?: string; options?: unknown; request?: TxnRequest }> = [];
  const kv: KV = {
    get: async (key, options) => {
      calls.push({ method: "get", key: bytesToText(key as Uint8Array), options });
      return answers.range ?? rangeResponse();
    },
    put: async (key, _value, options) => {
      calls.push({ method: "put", key: bytesToText(key as Uint8Array), options });
      return { $typeName: "etcdserverpb.PutResponse", prevKv: keyValue("ns/k") };
    },
    delete: async (key, options) => {
      calls.push({ method: "delete", key: bytesToText(key as Uint8Array), options });
      return { $typeName: "etcdserverpb.DeleteRangeResponse", deleted: 0n, prevKvs: [] };
    },
    txn: () =>
      new Txn(async (request) => {
        calls.push({ method: "txn", request });
        return answers.txn ?? { $typeName: "etcdserverpb.TxnResponse", succeeded: true, responses: [] };
      }),
    compact: async () => ({ $typeName: "etcdserverpb.CompactionResponse" }),
  };
  return { kv, calls };
}

const invalid = (e: unknown) => EtcdError.is(e, "invalid_argument");

describe("namespaceKV (fake KV below)", () => {
  it("hands the layer below prefixed keys and range ends, other options unchanged", async () => {
    const { kv, calls } = recordingKV();
    const ns = namespaceKV(kv, "ns/");
    await ns.get("k", { limit: 5, serializable: true });
    await ns.get("", { prefix: true, keysOnly: true });
    await ns.delete("k", { fromKey: true, prevKv: true });
    await ns.put("k", "v", { lease: 7n });
    assert.deepEqual(calls, [
      { method: "get", key: "ns/k", options: { limit: 5, serializable: true } },
      { method: "get", key: "ns/\0", options: { keysOnly: true, rangeEnd: text("ns0") } },
      { method: "delete", key: "ns/k", options: { prevKv: true, rangeEnd: text("ns0") } },
      { method: "put", key: "ns/k", options: { lease: 7n } },
    ]);
  });

  it("refuses empty keys itself (prefixed, they would name the prefix)", async () => {
    const { kv, calls } = recordingKV();
    const ns = namespaceKV(kv, "ns/");
    await assert.rejects(ns.get(""), invalid);
    await assert.rejects(ns.delete(""), invalid);
    await assert.rejects(ns.put("", "v"), invalid);
    await assert.rejects(ns.put(new Uint8Array(0), "v"), invalid);
    assert.deepEqual(calls, []);
  });

  it("drops keys outside the prefix from responses and leaves the layer's messages alone", async () => {
    const range = rangeResponse("ns/a", "other/b", "ns/c");
    const { kv } = recordingKV({ range });
    const res = await namespaceKV(kv, "ns/").get("", { prefix: true });
    assert.deepEqual(
      res.kvs.map((kv) => bytesToText(kv.key)),
      ["a", "c"],
    );
    assert.deepEqual(
      range.kvs.map((kv) => bytesToText(kv.key)),
      ["ns/a", "other/b", "ns/c"],
    );
    const put = await namespaceKV(kv, "ns/").put("k", "v", { prevKv: true });
    assert.equal(bytesToText(put.prevKv?.key ?? new Uint8Array()), "k");
  });

  it("prefixes compares and ops recursively without touching the caller's messages", async () => {
    const { kv, calls } = recordingKV();
    const cmp = compare.version("k", ">", 0, { prefix: true });
    const nested = opTxn(
      [compare.value("x", "=", "1")],
      [opPut("x", "2")],
      [opDelete("", { fromKey: true })],
    );
    const ops: RequestOp[] = [opGet("a", { rangeEnd: "c" }), nested];
    const before = structuredClone({ cmp, ops });
    await namespaceKV(kv, "ns/")
      .txn()
      .if(cmp)
      .then(...ops)
      .else(opPut("y", "1"))
      .commit();
    assert.deepEqual({ cmp, ops }, before);

    const request = calls[0]?.request;
    assert.ok(request);
    const keys = (r: { key: Uint8Array; rangeEnd?: Uint8Array }) => [
      bytesToText(r.key),
      bytesToText(r.rangeEnd ?? new Uint8Array()),
    ];
    assert.deepEqual(request.compare.map(keys), [["ns/k", "ns/l"]]);
    const [get, txn] = request.success;
    assert.equal(get?.request.case, "requestRange");
    assert.deepEqual(get?.request.case === "requestRange" && keys(get.request.value), ["ns/a", "ns/c"]);
    assert.equal(txn?.request.case, "requestTxn");
    if (txn?.request.case !== "requestTxn") return;
    const inner = txn.request.value;
    assert.deepEqual(inner.compare.map(keys), [["ns/x", ""]]);
    assert.deepEqual(
      inner.success.map((op) => op.request.case === "requestPut" && bytesToText(op.request.value.key)),
      ["ns/x"],
    );
    assert.deepEqual(
      inner.failure.map((op) => op.request.case === "requestDeleteRange" && keys(op.request.value)),
      [["ns/\0", "ns0"]],
    );
    assert.deepEqual(
      request.failure.map((op) => op.request.case === "requestPut" && bytesToText(op.request.value.key)),
      ["ns/y"],
    );
  });

  it("refuses ops and compares it cannot place under the prefix", async () => {
    const { kv, calls } = recordingKV();
    const ns = namespaceKV(kv, "ns/");
    const noRequest = { ...opGet("k"), request: { case: undefined } } as RequestOp;
    await assert.rejects(ns.txn().then(noRequest).commit(), /without a request/);
    const emptyKey = opPut("k", "v");
    if (emptyKey.request.case === "requestPut") emptyKey.request.value.key = new Uint8Array(0);
    await assert.rejects(ns.txn().then(emptyKey).commit(), invalid);
    const emptyCompare = { ...compare.version("k", "=", 0), key: new Uint8Array(0) };
    await assert.rejects(ns.txn().if(emptyCompare).commit(), invalid);
    assert.deepEqual(calls, []);
  });

  it("strips keys in txn responses, nested ones included", async () => {
    const op = (response: ResponseOp["response"]): ResponseOp => ({
      $typeName: "etcdserverpb.ResponseOp",
      response,
    });
    const txn: TxnResponse = {
      $typeName: "etcdserverpb.TxnResponse",
      succeeded: true,
      responses: [
        op({ case: "responseRange", value: rangeResponse("ns/a", "elsewhere") }),
        op({
          case: "responseTxn",
          value: {
            $typeName: "etcdserverpb.TxnResponse",
            succeeded: false,
            responses: [
              op({
                case: "responseDeleteRange",
                value: {
                  $typeName: "etcdserverpb.DeleteRangeResponse",
                  deleted: 1n,
                  prevKvs: [keyValue("ns/d")],
                },
              }),
              op({
                case: "responsePut",
                value: { $typeName: "etcdserverpb.PutResponse", prevKv: keyValue("ns/p") },
              }),
            ],
          },
        }),
      ],
    };
    const { kv } = recordingKV({ txn });
    const res = await namespaceKV(kv, "ns/").txn().then(opGet("a")).commit();
    const [range, nested] = res.responses;
    assert.deepEqual(
      range?.response.case === "responseRange" && range.response.value.kvs.map((kv) => bytesToText(kv.key)),
      ["a"],
    );
    assert.ok(nested?.response.case === "responseTxn");
    const [del, put] = nested.response.value.responses;
    assert.deepEqual(
      del?.response.case === "responseDeleteRange" &&
        del.response.value.prevKvs.map((kv) => bytesToText(kv.key)),
      ["d"],
    );
    assert.equal(
      put?.response.case === "responsePut" && bytesToText(put.response.value.prevKv?.key ?? new Uint8Array()),
      "p",
    );
    // The layer's own response still holds its keys.
    const original = txn.responses[0]?.response;
    assert.equal(
      original?.case === "responseRange" && bytesToText(original.value.kvs[0]?.key ?? text("")),
      "ns/a",
    );
  });

  it("refuses an empty prefix", () => {
    const { kv } = recordingKV();
    assert.throws(() => namespaceKV(kv, ""), invalid);
  });
});
