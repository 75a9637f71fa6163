import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EtcdError } from "./errors.js";
import { fromKeyEnd, isEmptyRange, keyRange, prefixEnd } from "./key-range.js";

const bytes = (...values: number[]) => new Uint8Array(values);
const text = (value: string) => new TextEncoder().encode(value);

describe("prefixEnd", () => {
  const table: Array<[string, Uint8Array, Uint8Array]> = [
    ["a single byte", bytes(0x00), bytes(0x01)],
    ['"a" to "b"', text("a"), text("b")],
    ["the last byte of a longer prefix", text("jobs/"), text("jobs0")],
    ["a byte just below 0xff", bytes(0xfe), bytes(0xff)],
    ["a trailing 0xff, carrying into the byte before", bytes(0x61, 0xff), bytes(0x62)],
    ["several trailing 0xff", bytes(0x61, 0x62, 0xff, 0xff), bytes(0x61, 0x63)],
    ["a 0xff before the last byte, kept", bytes(0xff, 0x61), bytes(0xff, 0x62)],
    ["a single 0xff, to the end of the keyspace", bytes(0xff), bytes(0x00)],
    ["all 0xff, to the end of the keyspace", bytes(0xff, 0xff, 0xff), bytes(0x00)],
    ["an empty prefix, to the end of the keyspace", bytes(), bytes(0x00)],
  ];
  for (const [name, prefix, end] of table) {
    it(name, () => {
      assert.deepEqual(prefixEnd(prefix), end);
    });
  }

  it("leaves its input unchanged", () => {
    const prefix = bytes(0x61, 0xff);
    prefixEnd(prefix);
    assert.deepEqual(prefix, bytes(0x61, 0xff));
  });

  it("returns a range end above every key with the prefix", () => {
    const prefix = text("a/");
    const end = prefixEnd(prefix);
    for (const key of [text("a/"), text("a/\u00ff\u00ff"), bytes(0x61, 0x2f, 0xff, 0xff, 0xff)]) {
      assert.ok(Buffer.compare(key, end) < 0, `${Buffer.from(key).toString("hex")} is not below the end`);
    }
    assert.ok(Buffer.compare(text("a0"), end) >= 0);
  });
});

describe("keyRange", () => {
  it("selects a single key with an empty range end", () => {
    assert.deepEqual(keyRange("foo"), { key: text("foo"), rangeEnd: bytes() });
  });

  it("accepts the key as bytes", () => {
    assert.deepEqual(keyRange(bytes(1, 2, 3)), { key: bytes(1, 2, 3), rangeEnd: bytes() });
  });

  it("selects [key, rangeEnd)", () => {
    assert.deepEqual(keyRange("a", { rangeEnd: "c" }), { key: text("a"), rangeEnd: text("c") });
    assert.deepEqual(keyRange("a", { rangeEnd: bytes(0x63) }), { key: text("a"), rangeEnd: bytes(0x63) });
  });

  it("selects a prefix", () => {
    assert.deepEqual(keyRange("jobs/", { prefix: true }), { key: text("jobs/"), rangeEnd: text("jobs0") });
    assert.deepEqual(keyRange(bytes(0x61, 0xff), { prefix: true }), {
      key: bytes(0x61, 0xff),
      rangeEnd: bytes(0x62),
    });
  });

  it("selects every key from a key on", () => {
    assert.deepEqual(keyRange("m", { fromKey: true }), { key: text("m"), rangeEnd: fromKeyEnd() });
  });

  it('reads an empty prefix as every key, like Go\'s WithPrefix("")', () => {
    assert.deepEqual(keyRange("", { prefix: true }), { key: bytes(0), rangeEnd: bytes(0) });
  });

  it("reads an empty from-key as every key", () => {
    assert.deepEqual(keyRange("", { fromKey: true }), { key: bytes(0), rangeEnd: bytes(0) });
  });

  it("treats false selectors as absent", () => {
    assert.deepEqual(keyRange("k", { prefix: false, fromKey: false }), { key: text("k"), rangeEnd: bytes() });
  });

  const rejected: Array<[string, () => unknown, RegExp]> = [
    ["an empty key", () => keyRange(""), /key must not be empty/],
    ["an empty key given as bytes", () => keyRange(bytes()), /key must not be empty/],
    ["an empty key with a range end", () => keyRange("", { rangeEnd: "z" }), /key must not be empty/],
    ["prefix with fromKey", () => keyRange("a", { prefix: true, fromKey: true }), /only one of/],
    ["prefix with rangeEnd", () => keyRange("a", { prefix: true, rangeEnd: "b" }), /only one of/],
    ["fromKey with rangeEnd", () => keyRange("a", { fromKey: true, rangeEnd: "b" }), /only one of/],
  ];
  for (const [name, call, message] of rejected) {
    it(`rejects ${name} with invalid_argument`, () => {
      assert.throws(call, (error: unknown) => {
        assert.ok(EtcdError.is(error, "invalid_argument"));
        assert.match(error.message, message);
        return true;
      });
    });
  }
});

describe("isEmptyRange", () => {
  const b = text;
  it("is true for a range end at or below the key, bytewise", () => {
    assert.equal(isEmptyRange(b("b"), b("a")), true);
    assert.equal(isEmptyRange(b("b"), b("b")), true);
    assert.equal(isEmptyRange(b("bb"), b("b")), true);
    assert.equal(isEmptyRange(Uint8Array.of(0x80), Uint8Array.of(0x7f, 0xff)), true);
  });
  it("is false for a range end above the key, the empty one and \\0", () => {
    assert.equal(isEmptyRange(b("b"), b("c")), false);
    assert.equal(isEmptyRange(b("b"), b("ba")), false);
    assert.equal(isEmptyRange(b("b"), new Uint8Array(0)), false);
    assert.equal(isEmptyRange(b("b"), Uint8Array.of(0)), false);
  });
});
