import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { allocBytes, concatBytes, copyBytes, utf8Bytes } from "./byte-slab.js";

const encoder = new TextEncoder();

describe("utf8Bytes", () => {
  it("gives TextEncoder's bytes for every kind of text", () => {
    const texts = [
      "",
      "k",
      "key/0001",
      "x".repeat(64),
      "x".repeat(65),
      "x".repeat(256),
      "é",
      "naïve/ключ/鍵",
      "🙂 emoji",
      "a\ud800b", // a lone high surrogate: U+FFFD
      "\udc00", // a lone low surrogate
      "\ud83d", // a high surrogate at the end
      "é".repeat(2000), // over the pooled size once encoded
      "x".repeat(5000),
    ];
    for (const text of texts) {
      const bytes = utf8Bytes(text);
      assert.deepEqual(bytes, encoder.encode(text), JSON.stringify(text.slice(0, 20)));
      assert.equal(Object.getPrototypeOf(bytes), Uint8Array.prototype);
    }
  });

  it("never hands out bytes that overlap", () => {
    const texts = Array.from({ length: 2000 }, (_, i) => `key/${i}/${"é".repeat(i % 7)}`);
    const arrays = texts.map(utf8Bytes);
    // Made one after another from the same slabs: an overlap would have overwritten an earlier one.
    for (let i = 0; i < texts.length; i++) assert.deepEqual(arrays[i], encoder.encode(texts[i]));
  });
});

describe("allocBytes", () => {
  it("gives views that never share bytes, across slabs", () => {
    const views = Array.from({ length: 500 }, (_, i) => allocBytes(1 + (i % 300)));
    views.forEach((v, i) => {
      v.fill(i & 0xff);
    });
    views.forEach((v, i) => {
      assert.ok(v.every((b) => b === (i & 0xff)));
    });
  });

  it("gives a large array a buffer of its own", () => {
    const big = allocBytes(100_000);
    assert.equal(big.byteLength, 100_000);
    assert.equal(big.buffer.byteLength, 100_000);
  });
});

describe("copyBytes", () => {
  it("copies, so the source may change afterwards", () => {
    const source = Uint8Array.from([1, 2, 3]);
    const copy = copyBytes(source);
    source[0] = 9;
    assert.deepEqual(copy, Uint8Array.from([1, 2, 3]));
  });
});

describe("concatBytes", () => {
  it("holds the parts in order, including empty ones", () => {
    const parts = [
      Uint8Array.from([1, 2]),
      new Uint8Array(0),
      Uint8Array.from([3]),
      Uint8Array.from([4, 5, 6]),
    ];
    assert.deepEqual(concatBytes(parts), Uint8Array.from([1, 2, 3, 4, 5, 6]));
    assert.deepEqual(concatBytes([]), new Uint8Array(0));
  });

  it("gives parts over the pooled size a buffer of their own, copied from views", () => {
    const source = new Uint8Array(300_000).map((_, i) => i & 0xff);
    const parts = [source.subarray(0, 70_000), source.subarray(70_000, 70_001), source.subarray(70_001)];
    const whole = concatBytes(parts);
    assert.equal(whole.buffer.byteLength, 300_000);
    assert.deepEqual(whole, source);
    source[0] = 9;
    assert.equal(whole[0], 0);
  });
});
