import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EtcdError } from "@etcd-connect/client";
import type { Endpoint, JsonValue } from "./endpoint.js";
import { decodeEndpoint, encodeEndpoint, maxMetadataDepth } from "./endpoint-json.js";

// The expected texts are what Go 1.19's encoding/json wrote for the same endpoints through
// endpoints.Manager.AddEndpoint (test/go-interop.test.ts checks against Go itself).
describe("encodeEndpoint: Go's JSON, byte for byte", () => {
  const cases: Array<[string, Endpoint, string]> = [
    ["no metadata: null", { addr: "10.0.0.7:8080" }, '{"Op":0,"Addr":"10.0.0.7:8080","Metadata":null}'],
    [
      "object keys sorted by their UTF-8 bytes",
      { addr: "a", metadata: { z: 1, a: 2, "10": 3, "9": 4, é: 5, "😀": 6, "\uffff": 7 } },
      '{"Op":0,"Addr":"a","Metadata":{"10":3,"9":4,"a":2,"z":1,"é":5,"\uffff":7,"😀":6}}',
    ],
    [
      "HTML characters, separators and control characters escaped as Go does",
      { addr: "<&>", metadata: '\u2028\u2029\u0001\b\f\t\n\r"\\\u007f é😀' },
      '{"Op":0,"Addr":"\\u003c\\u0026\\u003e","Metadata":"\\u2028\\u2029\\u0001\\u0008\\u000c\\t\\n\\r\\"\\\\\u007f é😀"}',
    ],
    [
      "numbers in Go's shortest form, exponents at the same bounds, the sign of zero kept",
      {
        addr: "n",
        metadata: [1e21, 1e-7, -0, 0, 0.1, 5e-324, 1e20, 0.000001, -1.5e-9, 1.7976931348623157e308],
      },
      '{"Op":0,"Addr":"n","Metadata":[1e+21,1e-7,-0,0,0.1,5e-324,100000000000000000000,0.000001,-1.5e-9,1.7976931348623157e+308]}',
    ],
    [
      "nested arrays and objects, booleans, null; undefined properties left out",
      { addr: "x", metadata: { b: [true, false, null, { y: [] }], u: undefined, e: {} } },
      '{"Op":0,"Addr":"x","Metadata":{"b":[true,false,null,{"y":[]}],"e":{}}}',
    ],
    [
      "a lone surrogate is stored as U+FFFD, as its UTF-8 encoding is",
      { addr: "\ud800", metadata: { "\udc00": "ok" } },
      '{"Op":0,"Addr":"\ufffd","Metadata":{"\ufffd":"ok"}}',
    ],
    [
      "an empty address with metadata",
      { addr: "", metadata: { shard: 3 } },
      '{"Op":0,"Addr":"","Metadata":{"shard":3}}',
    ],
  ];
  for (const [name, endpoint, expected] of cases) {
    it(name, () => {
      assert.equal(encodeEndpoint(endpoint), expected);
    });
  }

  const refused: Array<[string, unknown, RegExp]> = [
    ["not an object", "10.0.0.7:8080", /must be an object/],
    ["a number addr", { addr: 8080 }, /addr must be a string/],
    ["an empty addr without metadata", { addr: "" }, /nothing to register/],
    ["NaN", { addr: "a", metadata: { w: Number.NaN } }, /metadata\.w is NaN/],
    ["Infinity", { addr: "a", metadata: [Number.POSITIVE_INFINITY] }, /metadata\[0\] is Infinity/],
    ["a bigint", { addr: "a", metadata: { id: 1n } }, /metadata\.id is a bigint/],
    ["a function", { addr: "a", metadata: { f: () => 1 } }, /metadata\.f is a function/],
    ["a Date", { addr: "a", metadata: { at: new Date(0) } }, /metadata\.at is a Date/],
    ["a Map", { addr: "a", metadata: new Map() }, /metadata is a Map/],
    ["undefined in an array", { addr: "a", metadata: [1, undefined] }, /metadata\[1\] is undefined/],
    [
      "two keys that are one in UTF-8",
      { addr: "a", metadata: { "\ud800": 1, "\ud801": 2 } },
      /two keys that are the same text/,
    ],
  ];
  for (const [name, endpoint, message] of refused) {
    it(`refuses ${name} with invalid_argument`, () => {
      assert.throws(
        () => encodeEndpoint(endpoint as Endpoint),
        (error: unknown) => EtcdError.is(error, "invalid_argument") && message.test(error.message),
      );
    });
  }

  it("refuses a cycle, and metadata nested deeper than maxMetadataDepth", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.throws(() => encodeEndpoint({ addr: "a", metadata: cyclic as JsonValue }), /refers to itself/);
    const nest = (levels: number): JsonValue => {
      let value: JsonValue = 1;
      for (let i = 0; i < levels; i++) value = [value];
      return value;
    };
    assert.doesNotThrow(() => encodeEndpoint({ addr: "a", metadata: nest(maxMetadataDepth - 1) }));
    assert.throws(() => encodeEndpoint({ addr: "a", metadata: nest(maxMetadataDepth) }), /nests deeper/);
  });

  it("writes the same value shared twice (not a cycle)", () => {
    const shared = { zone: "b" };
    assert.equal(
      encodeEndpoint({ addr: "a", metadata: [shared, shared] }),
      '{"Op":0,"Addr":"a","Metadata":[{"zone":"b"},{"zone":"b"}]}',
    );
  });
});

describe("decodeEndpoint: what Go's manager reads, and what it skips", () => {
  const bytes = (text: string) => new TextEncoder().encode(text);
  // Each outcome below is what Go's List returned for the same stored value.
  const read: Array<[string, string, Endpoint]> = [
    [
      "its own format",
      '{"Op":0,"Addr":"1.2.3.4:80","Metadata":null}',
      { addr: "1.2.3.4:80", metadata: null },
    ],
    [
      "keys in any ASCII case",
      '{"addr":"lower","metadata":{"x":1},"op":7}',
      { addr: "lower", metadata: { x: 1 } },
    ],
    ["ADDR", '{"ADDR":"k"}', { addr: "k", metadata: null }],
    ["the last of two spellings", '{"Addr":"a","addr":"b"}', { addr: "b", metadata: null }],
    ["null fields and unknown keys", '{"Op":null,"Addr":null,"Extra":1}', { addr: "", metadata: null }],
    ["the value null", "null", { addr: "", metadata: null }],
    ["whitespace around", ' {"Addr":"w"} ', { addr: "w", metadata: null }],
    ["the op of a delete (Go ignores it)", '{"Op":1,"Addr":"d"}', { addr: "d", metadata: null }],
  ];
  for (const [name, stored, expected] of read) {
    it(`reads ${name}`, () => {
      assert.deepEqual(decodeEndpoint(bytes(stored)), expected);
      assert.deepEqual(decodeEndpoint(stored), expected);
    });
  }

  const skipped: Array<[string, string]> = [
    ["text that is not JSON", "not json"],
    ["an array", "[1]"],
    ["a string", '"1.2.3.4:80"'],
    ["a number addr", '{"Addr":5}'],
    ["an op that is not a whole number", '{"Op":1.5,"Addr":"x"}'],
    ["an op beyond uint8", '{"Op":256,"Addr":"x"}'],
    ["a negative op", '{"Op":-1,"Addr":"x"}'],
    ["a string op", '{"Op":"0","Addr":"x"}'],
    ["a number beyond float64", '{"Addr":"x","Metadata":[1e400]}'],
    ["a byte order mark", '\ufeff{"Addr":"x"}'],
  ];
  for (const [name, stored] of skipped) {
    it(`skips ${name}`, () => {
      assert.equal(decodeEndpoint(bytes(stored)), undefined);
    });
  }

  it("skips metadata nested deeper than Go reads, and reads it just below", () => {
    const nested = (levels: number) => `{"Addr":"x","Metadata":${"[".repeat(levels)}${"]".repeat(levels)}}`;
    // The stored object is the first of Go's 10000 levels.
    assert.notEqual(decodeEndpoint(nested(9999)), undefined);
    assert.equal(decodeEndpoint(nested(10_000)), undefined);
  });

  it("freezes what it returns, metadata included", () => {
    const endpoint = decodeEndpoint('{"Addr":"x","Metadata":{"tags":["a"]}}');
    assert.ok(endpoint !== undefined);
    assert.ok(Object.isFrozen(endpoint));
    const metadata = endpoint.metadata as { tags: string[] };
    assert.ok(Object.isFrozen(metadata) && Object.isFrozen(metadata.tags));
  });

  it("reads back whatever encodeEndpoint writes", () => {
    const endpoint = {
      addr: "10.0.0.7:8080",
      metadata: { weight: 2, tags: ["<b>", "é"], nested: { ok: true } },
    };
    assert.deepEqual(decodeEndpoint(encodeEndpoint(endpoint)), endpoint);
  });
});
