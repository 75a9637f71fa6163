import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { binaryKey, keyBytes } from "./binary-key.js";

describe("binaryKey", () => {
  it("round-trips every byte value, not only UTF-8", () => {
    const all = new Uint8Array(256).map((_, i) => i);
    const id = binaryKey(all);
    assert.equal(id.length, 256);
    assert.deepEqual(keyBytes(id), all);
  });

  it("gives equal strings for equal bytes in different arrays, and reads a view in place", () => {
    const whole = new TextEncoder().encode("xxconfig/dbyy");
    const view = whole.subarray(2, 11);
    assert.equal(binaryKey(view), binaryKey(new TextEncoder().encode("config/db")));
    assert.equal(binaryKey(view), "config/db");
  });

  it("keeps bytes that are not valid UTF-8 apart", () => {
    assert.notEqual(binaryKey(new Uint8Array([0xc3, 0x28])), binaryKey(new Uint8Array([0xc3, 0x29])));
    assert.equal(binaryKey(new Uint8Array()), "");
  });

  it("copies keys out into arrays of their own", () => {
    const bytes = keyBytes("abc");
    assert.equal(bytes.byteOffset, 0);
    assert.equal(bytes.buffer.byteLength, 3);
  });
});
