import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { frameFlag } from "./frame.js";
import { Http2HeaderBlock } from "./header-block.js";

const endHeaders = frameFlag.endHeaders;

// A literal field with incremental indexing and a new name (RFC 7541 §6.2.1): it enters the table.
function indexedLiteral(name: string, value: string): number[] {
  return [0x40, name.length, ...Buffer.from(name), value.length, ...Buffer.from(value)];
}

function headersOf(block: Http2HeaderBlock, bytes: number[]) {
  const result = block.begin(1, endHeaders, Buffer.from(bytes));
  assert.equal(result.kind, "headers");
  return result.section;
}

describe("Http2HeaderBlock", () => {
  // :status 200 is static entry 8; the newest dynamic entry is 62.
  const status200 = 0x88;
  const newest = 0x80 | 62;

  it("decodes a repeated block once and shares its frozen section", () => {
    const block = new Http2HeaderBlock();
    headersOf(block, [status200, ...indexedLiteral("content-type", "application/grpc")]);
    const first = headersOf(block, [status200, newest]);
    const again = headersOf(block, [status200, newest]);
    assert.equal(again, first);
    assert.deepEqual({ ...again.headers }, { ":status": "200", "content-type": "application/grpc" });
    assert.ok(Object.isFrozen(again.headers));
    assert.equal(again.malformed(true), undefined);
    assert.match(again.malformed(false) ?? "", /pseudo-header/);
  });

  it("decodes the same bytes anew once the table changed", () => {
    const block = new Http2HeaderBlock();
    headersOf(block, indexedLiteral("x-a", "1"));
    const before = headersOf(block, [newest]);
    assert.deepEqual({ ...before.headers }, { "x-a": "1" });
    // A new entry moves the old one to 63: the same reference now means the new field.
    headersOf(block, indexedLiteral("x-b", "2"));
    const after = headersOf(block, [newest]);
    assert.notEqual(after, before);
    assert.deepEqual({ ...after.headers }, { "x-b": "2" });
  });

  it("does not remember a block that changed the table", () => {
    const block = new Http2HeaderBlock();
    const bytes = indexedLiteral("x-a", "1");
    const first = headersOf(block, bytes);
    const second = headersOf(block, bytes);
    // Each decoding inserted an entry: both are decoded, and the table holds two entries.
    assert.notEqual(second, first);
    assert.deepEqual({ ...headersOf(block, [0x80 | 63]).headers }, { "x-a": "1" });
  });

  it("judges the order of pseudo-headers as the fields arrived, not as an object lists them", () => {
    // An integer-like name is listed first by any object, whatever the order on the wire.
    const after = headersOf(new Http2HeaderBlock(), [status200, ...indexedLiteral("123", "x")]);
    assert.deepEqual(Object.keys(after.headers), ["123", ":status"]);
    assert.equal(after.malformed(true), undefined);
    const before = headersOf(new Http2HeaderBlock(), [...indexedLiteral("x-a", "1"), status200]);
    assert.equal(before.malformed(true), "a pseudo-header field after a regular one");
  });
});
