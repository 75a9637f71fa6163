import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import {
  type Compare,
  CompareSchema,
  DeleteRangeRequestSchema,
  PutRequestSchema,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  RangeRequestSchema,
  type RequestOp,
  RequestOpSchema,
  TxnRequestSchema,
} from "@etcd-connect/api/etcdserverpb";
import { EtcdError } from "../errors.js";
import { compare } from "./compare.js";
import {
  deleteRequest,
  type GetOptions,
  maxTxnOps,
  opDelete,
  opGet,
  opPut,
  opTxn,
  putRequest,
  rangeRequest,
  txnRequest,
} from "./op.js";

const text = (value: string) => new TextEncoder().encode(value);
const maxInt64 = 0x7fff_ffff_ffff_ffffn;

function assertInvalid(call: () => unknown, message: RegExp): void {
  assert.throws(call, (error: unknown) => {
    assert.ok(EtcdError.is(error, "invalid_argument"), `expected invalid_argument, got ${String(error)}`);
    assert.match(error.message, message);
    return true;
  });
}

describe("rangeRequest", () => {
  it("reads a single key at the latest revision by default", () => {
    const req = rangeRequest("k");
    assert.deepEqual(req.key, text("k"));
    assert.deepEqual(req.rangeEnd, new Uint8Array(0));
    assert.equal(req.limit, 0n);
    assert.equal(req.revision, 0n);
    assert.equal(req.sortOrder, RangeRequest_SortOrder.NONE);
    assert.equal(req.sortTarget, RangeRequest_SortTarget.KEY);
    assert.equal(req.serializable, false);
    assert.equal(req.keysOnly, false);
    assert.equal(req.countOnly, false);
    assert.equal(req.minModRevision, 0n);
    assert.equal(req.maxModRevision, 0n);
    assert.equal(req.minCreateRevision, 0n);
    assert.equal(req.maxCreateRevision, 0n);
  });

  const fields: Array<[string, GetOptions, (req: ReturnType<typeof rangeRequest>) => unknown, unknown]> = [
    ["limit", { limit: 10 }, (r) => r.limit, 10n],
    ["revision", { revision: 42 }, (r) => r.revision, 42n],
    ["serializable", { serializable: true }, (r) => r.serializable, true],
    ["keysOnly", { keysOnly: true }, (r) => r.keysOnly, true],
    ["countOnly", { countOnly: true }, (r) => r.countOnly, true],
    ["minModRevision", { minModRevision: 3 }, (r) => r.minModRevision, 3n],
    ["maxModRevision", { maxModRevision: 4 }, (r) => r.maxModRevision, 4n],
    ["minCreateRevision", { minCreateRevision: 5 }, (r) => r.minCreateRevision, 5n],
    ["maxCreateRevision", { maxCreateRevision: 6 }, (r) => r.maxCreateRevision, 6n],
    ["sortOrder none", { sortOrder: "none" }, (r) => r.sortOrder, RangeRequest_SortOrder.NONE],
    ["sortOrder ascend", { sortOrder: "ascend" }, (r) => r.sortOrder, RangeRequest_SortOrder.ASCEND],
    ["sortOrder descend", { sortOrder: "descend" }, (r) => r.sortOrder, RangeRequest_SortOrder.DESCEND],
    ["sortTarget key", { sortTarget: "key" }, (r) => r.sortTarget, RangeRequest_SortTarget.KEY],
    ["sortTarget version", { sortTarget: "version" }, (r) => r.sortTarget, RangeRequest_SortTarget.VERSION],
    ["sortTarget create", { sortTarget: "create" }, (r) => r.sortTarget, RangeRequest_SortTarget.CREATE],
    ["sortTarget mod", { sortTarget: "mod" }, (r) => r.sortTarget, RangeRequest_SortTarget.MOD],
    ["sortTarget value", { sortTarget: "value" }, (r) => r.sortTarget, RangeRequest_SortTarget.VALUE],
    ["a bigint revision", { revision: 9_007_199_254_740_993n }, (r) => r.revision, 9_007_199_254_740_993n],
    ["the largest int64 limit", { limit: maxInt64 }, (r) => r.limit, maxInt64],
    ["a prefix", { prefix: true }, (r) => r.rangeEnd, text("l")],
    ["a range end", { rangeEnd: "z" }, (r) => r.rangeEnd, text("z")],
    ["from key", { fromKey: true }, (r) => r.rangeEnd, new Uint8Array([0])],
  ];
  for (const [name, options, field, expected] of fields) {
    it(`sets ${name}`, () => {
      assert.deepEqual(field(rangeRequest("k", options)), expected);
    });
  }

  it("sets every option at once and serialises", () => {
    const req = rangeRequest("a", {
      rangeEnd: "b",
      limit: 1n,
      revision: 2n,
      sortOrder: "descend",
      sortTarget: "mod",
      serializable: true,
      keysOnly: true,
      countOnly: true,
      minModRevision: 3n,
      maxModRevision: 4n,
      minCreateRevision: 5n,
      maxCreateRevision: 6n,
    });
    assert.deepEqual(
      [
        req.limit,
        req.revision,
        req.minModRevision,
        req.maxModRevision,
        req.minCreateRevision,
        req.maxCreateRevision,
      ],
      [1n, 2n, 3n, 4n, 5n, 6n],
    );
    assert.equal(req.sortOrder, RangeRequest_SortOrder.DESCEND);
    assert.equal(req.sortTarget, RangeRequest_SortTarget.MOD);
    assert.ok(req.serializable && req.keysOnly && req.countOnly);
  });

  const int64Options = [
    "limit",
    "revision",
    "minModRevision",
    "maxModRevision",
    "minCreateRevision",
    "maxCreateRevision",
  ] as const;
  const badInt64: Array<[string, number | bigint]> = [
    ["negative", -1],
    ["a negative bigint", -1n],
    ["fractional", 1.5],
    ["NaN", Number.NaN],
    ["infinite", Number.POSITIVE_INFINITY],
    ["an unsafe integer", 2 ** 53],
    ["above int64", maxInt64 + 1n],
  ];
  for (const name of int64Options) {
    for (const [kind, value] of badInt64) {
      it(`rejects a ${kind} ${name}`, () => {
        assertInvalid(() => rangeRequest("k", { [name]: value }), new RegExp(name));
      });
    }
  }

  it("rejects an unknown sortOrder and sortTarget", () => {
    assertInvalid(() => rangeRequest("k", { sortOrder: "sideways" as "none" }), /unknown sortOrder/);
    assertInvalid(() => rangeRequest("k", { sortTarget: "size" as "key" }), /unknown sortTarget/);
  });

  it("rejects a sortOrder or sortTarget named like an Object.prototype member", () => {
    assertInvalid(() => rangeRequest("k", { sortOrder: "toString" as "none" }), /unknown sortOrder/);
    assertInvalid(() => rangeRequest("k", { sortTarget: "constructor" as "key" }), /unknown sortTarget/);
  });

  it("rejects an empty key and conflicting selectors", () => {
    assertInvalid(() => rangeRequest(""), /key must not be empty/);
    assertInvalid(() => rangeRequest("a", { prefix: true, fromKey: true }), /only one of/);
  });
});

describe("putRequest", () => {
  it("writes key and value with no options by default", () => {
    const req = putRequest("k", "v");
    assert.deepEqual(req.key, text("k"));
    assert.deepEqual(req.value, text("v"));
    assert.equal(req.lease, 0n);
    assert.equal(req.prevKv, false);
    assert.equal(req.ignoreValue, false);
    assert.equal(req.ignoreLease, false);
  });

  it("sets lease, prevKv, ignoreValue and ignoreLease", () => {
    assert.equal(putRequest("k", "v", { lease: 7 }).lease, 7n);
    assert.equal(putRequest("k", "v", { lease: 0x1234_5678_9abc_def0n }).lease, 0x1234_5678_9abc_def0n);
    assert.equal(putRequest("k", "v", { prevKv: true }).prevKv, true);
    assert.equal(putRequest("k", "", { ignoreValue: true }).ignoreValue, true);
    assert.equal(putRequest("k", "v", { ignoreLease: true }).ignoreLease, true);
  });

  it("accepts an empty value and byte values", () => {
    assert.deepEqual(putRequest("k", "").value, new Uint8Array(0));
    assert.deepEqual(
      putRequest(new Uint8Array([1]), new Uint8Array([0, 255])).value,
      new Uint8Array([0, 255]),
    );
  });

  it("rejects an empty key", () => {
    assertInvalid(() => putRequest("", "v"), /key must not be empty/);
    assertInvalid(() => putRequest(new Uint8Array(0), "v"), /key must not be empty/);
  });

  it("rejects a missing value", () => {
    assertInvalid(() => putRequest("k", undefined as unknown as string), /value must be/);
    assertInvalid(() => putRequest("k", null as unknown as string), /value must be/);
  });

  it("rejects a negative or fractional lease", () => {
    assertInvalid(() => putRequest("k", "v", { lease: -1 }), /lease/);
    assertInvalid(() => putRequest("k", "v", { lease: 0.5 }), /lease/);
  });
});

describe("deleteRequest", () => {
  it("deletes a single key", () => {
    const req = deleteRequest("k");
    assert.deepEqual(req.key, text("k"));
    assert.deepEqual(req.rangeEnd, new Uint8Array(0));
    assert.equal(req.prevKv, false);
  });

  it("deletes a prefix", () => {
    const req = deleteRequest("jobs/", { prefix: true });
    assert.deepEqual(req.key, text("jobs/"));
    assert.deepEqual(req.rangeEnd, text("jobs0"));
  });

  it("deletes from a key on", () => {
    const req = deleteRequest("m", { fromKey: true });
    assert.deepEqual(req.key, text("m"));
    assert.deepEqual(req.rangeEnd, new Uint8Array([0]));
  });

  it("deletes every key with an empty prefix", () => {
    const req = deleteRequest("", { prefix: true });
    assert.deepEqual(req.key, new Uint8Array([0]));
    assert.deepEqual(req.rangeEnd, new Uint8Array([0]));
  });

  it("asks for the previous key-values", () => {
    assert.equal(deleteRequest("k", { prevKv: true }).prevKv, true);
  });

  it("rejects an empty key", () => {
    assertInvalid(() => deleteRequest(""), /key must not be empty/);
  });
});

describe("ops", () => {
  it("wraps each request in its RequestOp case", () => {
    const get = opGet("a", { limit: 1 });
    assert.equal(get.request.case, "requestRange");
    assert.equal(get.request.case === "requestRange" && get.request.value.limit, 1n);
    const put = opPut("a", "b", { prevKv: true });
    assert.equal(put.request.case, "requestPut");
    assert.equal(put.request.case === "requestPut" && put.request.value.prevKv, true);
    const del = opDelete("a", { prefix: true });
    assert.equal(del.request.case, "requestDeleteRange");
    assert.deepEqual(del.request.case === "requestDeleteRange" && del.request.value.rangeEnd, text("b"));
  });

  it("validates inside ops too", () => {
    assertInvalid(() => opGet(""), /key must not be empty/);
    assertInvalid(() => opPut("", "v"), /key must not be empty/);
    assertInvalid(() => opDelete("a", { prefix: true, rangeEnd: "b" }), /only one of/);
  });

  it("nests a txn inside a txn", () => {
    const inner = opTxn([compare.version("a", "=", 0)], [opPut("a", "1")], [opGet("a")]);
    assert.equal(inner.request.case, "requestTxn");
    if (inner.request.case !== "requestTxn") return;
    assert.equal(inner.request.value.compare.length, 1);
    assert.equal(inner.request.value.success[0]?.request.case, "requestPut");
    assert.equal(inner.request.value.failure[0]?.request.case, "requestRange");

    const outer = txnRequest([], [inner, opDelete("b")], []);
    const nested = outer.success[0]?.request;
    assert.equal(nested?.case, "requestTxn");
    assert.equal(nested?.case === "requestTxn" && nested.value.success[0]?.request.case, "requestPut");
    assert.ok(toBinary(TxnRequestSchema, outer).length > 0);
  });

  it("defaults the else branch of a nested txn to nothing", () => {
    const op = opTxn([], [opPut("a", "1")]);
    assert.equal(op.request.case === "requestTxn" && op.request.value.failure.length, 0);
  });

  it("holds a nested txn to the op limit", () => {
    const ops = Array.from({ length: maxTxnOps + 1 }, () => opGet("a"));
    assertInvalid(() => opTxn([], ops), /129 then ops/);
  });
});

describe("txnRequest", () => {
  const ops = (n: number): RequestOp[] => Array.from({ length: n }, (_, i) => opPut(`k${i}`, "v"));
  const compares = (n: number): Compare[] =>
    Array.from({ length: n }, (_, i) => compare.version(`k${i}`, ">", 0));

  it(`uses etcd's default --max-txn-ops of 128`, () => {
    assert.equal(maxTxnOps, 128);
  });

  it("accepts 128 compares, then ops and else ops", () => {
    const req = txnRequest(compares(128), ops(128), ops(128));
    assert.equal(req.compare.length, 128);
    assert.equal(req.success.length, 128);
    assert.equal(req.failure.length, 128);
  });

  const tooMany: Array<[string, () => unknown, RegExp]> = [
    ["compares", () => txnRequest(compares(129), [], []), /129 compares/],
    ["then ops", () => txnRequest([], ops(129), []), /129 then ops/],
    ["else ops", () => txnRequest([], [], ops(129)), /129 else ops/],
  ];
  for (const [name, call, message] of tooMany) {
    it(`rejects 129 ${name}`, () => {
      assertInvalid(call, message);
      assertInvalid(call, /--max-txn-ops/);
    });
  }

  it("keeps the order of compares and ops", () => {
    const req = txnRequest(compares(3), ops(3), []);
    assert.deepEqual(
      req.success.map((op) =>
        op.request.case === "requestPut" ? new TextDecoder().decode(op.request.value.key) : "",
      ),
      ["k0", "k1", "k2"],
    );
    assert.deepEqual(
      req.compare.map((c) => toBinary(CompareSchema, c)),
      compares(3).map((c) => toBinary(CompareSchema, c)),
    );
  });

  it("builds an empty txn", () => {
    const req = txnRequest([], [], []);
    assert.deepEqual([req.compare.length, req.success.length, req.failure.length], [0, 0, 0]);
    assert.deepEqual(req, create(TxnRequestSchema, {}));
  });
});

describe("request literals", () => {
  // Requests, compares and txn ops are built as literals for speed: they must be what
  // protobuf-es's create() would build, field for field.
  const sameAsCreate = <T extends object>(schema: Parameters<typeof create>[0], built: T) => {
    assert.deepEqual(built, create(schema, { ...built } as never));
    assert.deepEqual(Object.keys(built).sort(), Object.keys(create(schema)).sort());
  };

  it("deleteRequest equals create(DeleteRangeRequestSchema) for every option", () => {
    for (const options of [{}, { prefix: true, prevKv: true }, { rangeEnd: "z" }, { fromKey: true }]) {
      sameAsCreate(DeleteRangeRequestSchema, deleteRequest("k", options));
    }
  });

  it("every compare equals create(CompareSchema), with and without a range", () => {
    for (const range of [undefined, { prefix: true }, { rangeEnd: "z" }]) {
      for (const built of [
        compare.value("k", "=", "v", range),
        compare.version("k", ">", 1, range),
        compare.createRevision("k", "<", 2n, range),
        compare.modRevision("k", "!=", 3, range),
        compare.lease("k", "=", 4n, range),
      ]) {
        sameAsCreate(CompareSchema, built);
      }
    }
  });

  it("txnRequest and every op equal create()", () => {
    const ops = [opGet("k", { prefix: true }), opPut("k", "v", { lease: 1n }), opDelete("k"), opTxn([], [])];
    for (const op of ops) sameAsCreate(RequestOpSchema, op);
    sameAsCreate(TxnRequestSchema, txnRequest([compare.version("k", ">", 0)], ops, [opGet("x")]));
  });

  it("rangeRequest equals create(RangeRequestSchema) for every option", () => {
    const cases: GetOptions[] = [
      {},
      { prefix: true, limit: 10, serializable: true },
      { rangeEnd: "z", revision: 7n, sortOrder: "descend", sortTarget: "mod", keysOnly: true },
      {
        fromKey: true,
        countOnly: true,
        minModRevision: 1,
        maxModRevision: 2,
        minCreateRevision: 3,
        maxCreateRevision: 4,
      },
    ];
    for (const options of cases) {
      const built = rangeRequest("k", options);
      assert.deepEqual(built, create(RangeRequestSchema, { ...built }));
      assert.deepEqual(Object.keys(built).sort(), Object.keys(create(RangeRequestSchema)).sort());
    }
  });

  it("putRequest equals create(PutRequestSchema) for every option", () => {
    for (const options of [{}, { lease: 5n, prevKv: true }, { ignoreValue: true, ignoreLease: true }]) {
      const built = putRequest("k", "v", options);
      assert.deepEqual(built, create(PutRequestSchema, { ...built }));
      assert.deepEqual(Object.keys(built).sort(), Object.keys(create(PutRequestSchema)).sort());
    }
  });
});
