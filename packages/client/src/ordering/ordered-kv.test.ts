import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import {
  DeleteRangeResponseSchema,
  PutResponseSchema,
  RangeResponseSchema,
  ResponseHeaderSchema,
  type TxnRequest,
  TxnResponseSchema,
} from "@etcd-connect/api/etcdserverpb";
import { EtcdError } from "../errors.js";
import type { KV } from "../kv/kv.js";
import type { GetOptions } from "../kv/op.js";
import { opDelete, opGet, opPut, opTxn } from "../kv/op.js";
import { Txn } from "../kv/txn.js";
import { createOrderedKV, linearizableTxn, type OrderViolation } from "./ordered-kv.js";

const header = (revision: number, memberId = 1n) =>
  create(ResponseHeaderSchema, { revision: BigInt(revision), memberId });

// A KV that answers reads at scripted revisions and records what it was asked: the logic under
// test is the wrapper's alone; the cluster case runs against etcd in test/ordering.test.ts.
function scriptedKV(revisions: { serializable: number[]; linearizable: number[] }) {
  const reads: GetOptions[] = [];
  const txns: TxnRequest[] = [];
  const next = (serializable: boolean) => {
    const list = serializable ? revisions.serializable : revisions.linearizable;
    const revision = list.shift();
    if (revision === undefined) throw new Error("no more scripted answers");
    return revision;
  };
  const kv: KV = {
    get: async (_key, options = {}) => {
      reads.push(options);
      return create(RangeResponseSchema, { header: header(next(options.serializable ?? false), 7n) });
    },
    put: async () => create(PutResponseSchema, { header: header(next(false)) }),
    delete: async () => create(DeleteRangeResponseSchema, { header: header(next(false)) }),
    txn: () =>
      new Txn(async (request) => {
        txns.push(request);
        const serializable = request.success.every(
          (op) => op.request.case === "requestRange" && op.request.value.serializable,
        );
        return create(TxnResponseSchema, { header: header(next(serializable)) });
      }),
    compact: async () => {
      throw new Error("not scripted");
    },
  };
  return { kv, reads, txns };
}

describe("createOrderedKV", () => {
  it("returns answers at or above the floor as they are, and raises the floor", async () => {
    const { kv, reads } = scriptedKV({ serializable: [5, 5, 9], linearizable: [] });
    const ordered = createOrderedKV(kv);
    assert.equal(ordered.revision, 0n);
    for (const expected of [5n, 5n, 9n]) {
      const res = await ordered.get("k", { serializable: true });
      assert.equal(res.header?.revision, expected);
    }
    assert.equal(ordered.revision, 9n);
    assert.equal(reads.length, 3);
  });

  it("reads a stale answer again as a linearizable read, with the caller's options, and reports it", async () => {
    const { kv, reads } = scriptedKV({ serializable: [9, 4], linearizable: [11] });
    const violations: OrderViolation[] = [];
    const ordered = createOrderedKV(kv, { onViolation: (v) => violations.push(v) });
    await ordered.get("k", { serializable: true });
    const signal = new AbortController().signal;
    const res = await ordered.get("k", { serializable: true, prefix: true, signal, timeoutMs: 100 });
    assert.equal(res.header?.revision, 11n);
    assert.deepEqual(violations, [{ method: "get", revision: 4n, floor: 9n, memberId: 7n }]);
    assert.deepEqual(reads[2], { serializable: false, prefix: true, signal, timeoutMs: 100 });
    assert.equal(ordered.revision, 11n);
  });

  it("a write raises the floor: a later read is at least the write's revision", async () => {
    const { kv } = scriptedKV({ serializable: [3], linearizable: [8, 8] });
    const ordered = createOrderedKV(kv);
    await ordered.put("k", "v");
    assert.equal(ordered.revision, 8n);
    const res = await ordered.get("k", { serializable: true });
    assert.equal(res.header?.revision, 8n, "the stale answer at 3 was read again");
  });

  it("fails with reason unavailable when even a linearizable read is older (a restored cluster)", async () => {
    const { kv } = scriptedKV({ serializable: [10, 4], linearizable: [6] });
    const ordered = createOrderedKV(kv);
    await ordered.get("k", { serializable: true });
    await assert.rejects(ordered.get("k", { serializable: true }), (error: unknown) =>
      EtcdError.is(error, "unavailable"),
    );
    assert.equal(ordered.revision, 10n);
  });

  it("a concurrent read that raised the floor after a call began is no violation for that call", async () => {
    const violations: OrderViolation[] = [];
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { kv } = scriptedKV({ serializable: [9], linearizable: [] });
    // The first read is held at the member until the second one has answered at 9.
    const slow: KV = {
      ...kv,
      get: async (key, options) => {
        if (options?.serializable) return kv.get(key, options);
        await held;
        return create(RangeResponseSchema, { header: header(5) });
      },
    };
    const ordered = createOrderedKV(slow, { onViolation: (v) => violations.push(v) });
    const first = ordered.get("k");
    await ordered.get("k", { serializable: true });
    release();
    assert.equal((await first).header?.revision, 5n);
    assert.deepEqual(violations, []);
    assert.equal(ordered.revision, 9n);
  });

  it("a stale read-only txn is sent again with its reads linearizable", async () => {
    const { kv, txns } = scriptedKV({ serializable: [9, 2], linearizable: [12] });
    const ordered = createOrderedKV(kv);
    await ordered
      .txn()
      .then(opGet("a", { serializable: true }))
      .commit();
    const res = await ordered
      .txn()
      .then(opGet("a", { serializable: true }))
      .commit();
    assert.equal(res.header?.revision, 12n);
    const retried = txns[2]?.success[0]?.request;
    assert.equal(retried?.case === "requestRange" && retried.value.serializable, false);
  });
});

describe("linearizableTxn", () => {
  it("turns every read linearizable, nested txns included, leaving the request unchanged", () => {
    const txn: TxnRequest = {
      $typeName: "etcdserverpb.TxnRequest",
      compare: [],
      success: [opGet("a", { serializable: true }), opTxn([], [opGet("b", { serializable: true })])],
      failure: [opGet("c", { serializable: true })],
    };
    const out = linearizableTxn(txn);
    assert.ok(out);
    const serializableFlags = JSON.stringify(out, (_k, v) => (typeof v === "bigint" ? String(v) : v)).match(
      /"serializable":(true|false)/g,
    );
    assert.deepEqual(serializableFlags, [
      '"serializable":false',
      '"serializable":false',
      '"serializable":false',
    ]);
    const first = txn.success[0]?.request;
    assert.equal(first?.case === "requestRange" && first.value.serializable, true);
  });

  it("refuses a txn that writes, at any depth: it must not be sent twice", () => {
    const base = { $typeName: "etcdserverpb.TxnRequest" as const, compare: [] };
    assert.equal(linearizableTxn({ ...base, success: [opPut("a", "v")], failure: [] }), undefined);
    assert.equal(linearizableTxn({ ...base, success: [], failure: [opDelete("a")] }), undefined);
    assert.equal(
      linearizableTxn({ ...base, success: [opTxn([], [opPut("a", "v")])], failure: [] }),
      undefined,
    );
  });
});
