import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Compare, Compare_CompareResult, Compare_CompareTarget } from "@etcd-connect/api/etcdserverpb";
import { EtcdError } from "../errors.js";
import type { RangeSelector } from "../key-range.js";
import { type CompareOperator, compare } from "./compare.js";

const text = (value: string) => new TextEncoder().encode(value);

function assertInvalid(call: () => unknown, message: RegExp): void {
  assert.throws(call, (error: unknown) => {
    assert.ok(EtcdError.is(error, "invalid_argument"), `expected invalid_argument, got ${String(error)}`);
    assert.match(error.message, message);
    return true;
  });
}

const operators: Array<[CompareOperator, Compare_CompareResult]> = [
  ["=", Compare_CompareResult.EQUAL],
  ["!=", Compare_CompareResult.NOT_EQUAL],
  ["<", Compare_CompareResult.LESS],
  [">", Compare_CompareResult.GREATER],
];

type Builder = (key: string, operator: CompareOperator, range?: RangeSelector) => Compare;

const targets: Array<[string, Builder, Compare_CompareTarget, Compare["targetUnion"]]> = [
  [
    "value",
    (k, op, range) => compare.value(k, op, "blue", range),
    Compare_CompareTarget.VALUE,
    { case: "value", value: text("blue") },
  ],
  [
    "version",
    (k, op, range) => compare.version(k, op, 3, range),
    Compare_CompareTarget.VERSION,
    { case: "version", value: 3n },
  ],
  [
    "createRevision",
    (k, op, range) => compare.createRevision(k, op, 10n, range),
    Compare_CompareTarget.CREATE,
    { case: "createRevision", value: 10n },
  ],
  [
    "modRevision",
    (k, op, range) => compare.modRevision(k, op, 11, range),
    Compare_CompareTarget.MOD,
    { case: "modRevision", value: 11n },
  ],
  [
    "lease",
    (k, op, range) => compare.lease(k, op, 0x694d_7a3b_1c2d_0001n, range),
    Compare_CompareTarget.LEASE,
    { case: "lease", value: 0x694d_7a3b_1c2d_0001n },
  ],
];

describe("compare builders", () => {
  for (const [name, build, target, targetUnion] of targets) {
    for (const [operator, result] of operators) {
      it(`${name} ${operator} on a single key`, () => {
        const cmp = build("color", operator);
        assert.deepEqual(cmp.key, text("color"));
        assert.deepEqual(cmp.rangeEnd, new Uint8Array(0));
        assert.equal(cmp.result, result);
        assert.equal(cmp.target, target);
        assert.deepEqual(cmp.targetUnion, targetUnion);
      });
    }

    it(`${name} over a prefix sets the range end`, () => {
      const cmp = build("jobs/", "=", { prefix: true });
      assert.deepEqual(cmp.key, text("jobs/"));
      assert.deepEqual(cmp.rangeEnd, text("jobs0"));
      assert.equal(cmp.target, target);
      assert.deepEqual(cmp.targetUnion, targetUnion);
    });

    it(`${name} over a range and from a key on`, () => {
      assert.deepEqual(build("a", "<", { rangeEnd: "m" }).rangeEnd, text("m"));
      assert.deepEqual(build("a", ">", { fromKey: true }).rangeEnd, new Uint8Array([0]));
    });

    it(`${name} rejects an unknown operator`, () => {
      for (const bad of ["==", "<=", ">=", "", "eq"]) {
        assertInvalid(() => build("k", bad as CompareOperator), /compare operator must be =, !=, < or >/);
      }
    });

    it(`${name} rejects an empty key unless a range makes it mean every key`, () => {
      assertInvalid(() => build("", "="), /key must not be empty/);
      assert.deepEqual(build("", "=", { prefix: true }).key, new Uint8Array([0]));
    });
  }

  it("compares byte values as given", () => {
    const value = new Uint8Array([0, 1, 255]);
    assert.deepEqual(compare.value("k", "=", value).targetUnion, { case: "value", value });
    assert.deepEqual(compare.value("k", "=", "").targetUnion, { case: "value", value: new Uint8Array(0) });
  });

  it("compares version 0 (a missing key)", () => {
    assert.deepEqual(compare.version("k", "=", 0).targetUnion, { case: "version", value: 0n });
  });

  it("rejects negative, fractional and oversize int64 operands", () => {
    assertInvalid(() => compare.version("k", "=", -1), /version must be/);
    assertInvalid(() => compare.createRevision("k", "=", 1.5), /createRevision must be/);
    assertInvalid(() => compare.modRevision("k", "=", -1n), /modRevision must be/);
    assertInvalid(() => compare.lease("k", "=", 0x8000_0000_0000_0000n), /lease must be/);
  });

  it("rejects an operator named like an Object.prototype member", () => {
    for (const bad of ["constructor", "toString", "__proto__"]) {
      assertInvalid(() => compare.value("k", bad as CompareOperator, "v"), /compare operator must be/);
    }
  });
});
