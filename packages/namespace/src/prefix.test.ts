import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EtcdError } from "@etcd-connect/client";
import { namespacePrefix, prefixInterval, prefixSelection, stripPrefix, withRangeEnd } from "./prefix.js";

const bytes = (...values: number[]) => new Uint8Array(values);
const text = (value: string) => new TextEncoder().encode(value);
const empty = new Uint8Array(0);
const fromKey = bytes(0);

describe("prefixInterval", () => {
  const cases: Array<{
    name: string;
    prefix: Uint8Array;
    key: Uint8Array;
    end?: Uint8Array;
    want: { key: Uint8Array; rangeEnd: Uint8Array };
  }> = [
    {
      name: "single key (no end)",
      prefix: text("a/"),
      key: text("k"),
      want: { key: text("a/k"), rangeEnd: empty },
    },
    {
      name: "single key (empty end)",
      prefix: text("a/"),
      key: text("k"),
      end: empty,
      want: { key: text("a/k"), rangeEnd: empty },
    },
    {
      name: "range",
      prefix: text("a/"),
      key: text("k1"),
      end: text("k5"),
      want: { key: text("a/k1"), rangeEnd: text("a/k5") },
    },
    {
      name: "prefix read of a key (end = prefixEnd(key))",
      prefix: text("a/"),
      key: text("jobs/"),
      end: text("jobs0"),
      want: { key: text("a/jobs/"), rangeEnd: text("a/jobs0") },
    },
    {
      name: "from-key: ends at the end of the prefix",
      prefix: text("a/"),
      key: text("k"),
      end: fromKey,
      want: { key: text("a/k"), rangeEnd: text("a0") },
    },
    {
      name: "all keys (key and end \\0)",
      prefix: text("a/"),
      key: fromKey,
      end: fromKey,
      want: { key: bytes(0x61, 0x2f, 0), rangeEnd: text("a0") },
    },
    {
      name: "prefix ending in 0xff: carry, carried bytes dropped",
      prefix: bytes(0x61, 0xff),
      key: text("k"),
      end: fromKey,
      want: { key: bytes(0x61, 0xff, 0x6b), rangeEnd: bytes(0x62) },
    },
    {
      name: "prefix ending in several 0xff: carry across all of them",
      prefix: bytes(0x01, 0xfe, 0xff, 0xff),
      key: fromKey,
      end: fromKey,
      want: { key: bytes(0x01, 0xfe, 0xff, 0xff, 0), rangeEnd: bytes(0x01, 0xff) },
    },
    {
      name: "prefix of all 0xff: runs to the end of the keyspace",
      prefix: bytes(0xff, 0xff),
      key: text("k"),
      end: fromKey,
      want: { key: bytes(0xff, 0xff, 0x6b), rangeEnd: fromKey },
    },
    {
      name: "a prefix read whose own end carried to \\0 stops at the end of the namespace",
      prefix: text("a/"),
      key: bytes(0xff),
      end: fromKey,
      want: { key: bytes(0x61, 0x2f, 0xff), rangeEnd: text("a0") },
    },
    {
      name: "an end of more than one byte starting with 0 is an ordinary end",
      prefix: text("a/"),
      key: bytes(0),
      end: bytes(0, 0),
      want: { key: bytes(0x61, 0x2f, 0), rangeEnd: bytes(0x61, 0x2f, 0, 0) },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(prefixInterval(c.prefix, c.key, c.end), c.want);
    });
  }

  it("never returns the caller's buffers", () => {
    const prefix = text("a/");
    const key = text("k");
    const out = prefixInterval(prefix, key, fromKey);
    out.key[0] = 0;
    out.rangeEnd[0] = 0;
    assert.deepEqual(prefix, text("a/"));
    assert.deepEqual(key, text("k"));
  });
});

describe("prefixSelection resolves the client's selectors first", () => {
  const prefix = text("t/");
  const cases: Array<[string, string, Parameters<typeof prefixSelection>[2], Uint8Array, Uint8Array]> = [
    ["key", "k", undefined, text("t/k"), empty],
    ["prefix", "k/", { prefix: true }, text("t/k/"), text("t/k0")],
    ["empty prefix (all keys)", "", { prefix: true }, bytes(0x74, 0x2f, 0), text("t0")],
    ["from-key", "k", { fromKey: true }, text("t/k"), text("t0")],
    ["from the first key", "", { fromKey: true }, bytes(0x74, 0x2f, 0), text("t0")],
    ["range", "a", { rangeEnd: "c" }, text("t/a"), text("t/c")],
    ["range with end \\0 (from-key)", "a", { rangeEnd: fromKey }, text("t/a"), text("t0")],
  ];
  for (const [name, key, selector, wantKey, wantEnd] of cases) {
    it(name, () => {
      assert.deepEqual(prefixSelection(prefix, key, selector), { key: wantKey, rangeEnd: wantEnd });
    });
  }

  it("refuses an empty key without a selector", () => {
    assert.throws(
      () => prefixSelection(prefix, ""),
      (e) => EtcdError.is(e, "invalid_argument"),
    );
  });

  it("refuses a key that is neither text nor bytes", () => {
    assert.throws(
      () => prefixSelection(prefix, 42 as unknown as string),
      (e) => EtcdError.is(e, "invalid_argument"),
    );
  });
});

describe("stripPrefix", () => {
  it("removes the prefix", () => assert.deepEqual(stripPrefix(text("a/"), text("a/k")), text("k")));
  it("gives the empty key for the prefix itself", () =>
    assert.deepEqual(stripPrefix(text("a/"), text("a/")), empty));
  it("refuses keys outside the prefix", () => {
    assert.equal(stripPrefix(text("a/"), text("b/k")), undefined);
    assert.equal(stripPrefix(text("a/"), text("a")), undefined);
    assert.equal(stripPrefix(bytes(0x61, 0xff), bytes(0x62)), undefined);
  });
});

describe("namespacePrefix", () => {
  it("copies the caller's bytes", () => {
    const given = text("a/");
    const prefix = namespacePrefix(given);
    given[0] = 0x62;
    assert.deepEqual(prefix, text("a/"));
  });
  it("refuses an empty prefix", () => {
    assert.throws(() => namespacePrefix(""), /must not be empty/);
    assert.throws(
      () => namespacePrefix(empty),
      (e) => EtcdError.is(e, "invalid_argument"),
    );
  });
});

describe("withRangeEnd", () => {
  it("replaces the selector and keeps the other options", () => {
    const signal = new AbortController().signal;
    assert.deepEqual(withRangeEnd({ prefix: true, limit: 2, signal }, text("t0")), {
      limit: 2,
      signal,
      rangeEnd: text("t0"),
    });
    assert.deepEqual(withRangeEnd({ fromKey: true, rangeEnd: "x", prevKv: true }, empty), { prevKv: true });
    assert.deepEqual(withRangeEnd(undefined, empty), {});
  });
});
