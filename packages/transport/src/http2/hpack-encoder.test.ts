import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HpackDecoder } from "./hpack.js";
import { encodeHeaderBlock, HpackEncoder } from "./hpack-encoder.js";

// HpackEncoder's blocks, read back in order by our own decoder (which keeps the peer's view of
// the table); session.test.ts holds it to nghttp2's decoder, and grpc-transport.test.ts to etcd's.

type Fields = Array<[string, string]>;

function fixed(path: string): Fields {
  return [
    [":method", "POST"],
    [":scheme", "http"],
    [":path", path],
    [":authority", "127.0.0.1:2379"],
    ["content-type", "application/grpc+proto"],
    ["te", "trailers"],
    ["user-agent", "etcd-connect/0.1"],
  ];
}

// An RFC 7541 entry's size: name and value octets plus 32.
function sizeOf(fields: Fields): number {
  return fields.reduce((sum, [name, value]) => sum + name.length + value.length + 32, 0);
}

describe("HpackEncoder", () => {
  it("puts the repeating fields in the table once, then sends each as one octet", () => {
    const encoder = new HpackEncoder();
    const decoder = new HpackDecoder();
    const fields = fixed("/etcdserverpb.KV/Txn");
    const first = encoder.encode(fields);
    const second = encoder.encode(fields);
    assert.deepEqual(Object.entries(decoder.decode(first)), fields);
    assert.deepEqual(Object.entries(decoder.decode(second)), fields);
    // :method and :scheme are static entries; the other five went in on the first block.
    assert.equal(decoder.tableLength, 5);
    assert.equal(decoder.tableSize, sizeOf(fields.slice(2)));
    assert.equal(encoder.tableSize, decoder.tableSize);
    assert.equal(second.length, fields.length, "one octet per field");
    assert.ok(first.length > 80, `the first block carries the strings (${first.length} octets)`);
  });

  it("keeps indices right as newer entries push older ones down", () => {
    const encoder = new HpackEncoder();
    const decoder = new HpackDecoder();
    const paths = ["/etcdserverpb.KV/Range", "/etcdserverpb.KV/Put", "/etcdserverpb.Lease/LeaseGrant"];
    for (let round = 0; round < 3; round++) {
      for (const path of paths) {
        assert.deepEqual(Object.entries(decoder.decode(encoder.encode(fixed(path)))), fixed(path));
      }
    }
    // Five fields for the first path, then one new :path for each other path.
    assert.equal(decoder.tableLength, 5 + paths.length - 1);
  });

  it("changes its generation only when a block changes the table", () => {
    const encoder = new HpackEncoder();
    const before = encoder.generation;
    encoder.encode(fixed("/a"));
    const afterFirst = encoder.generation;
    assert.notEqual(afterFirst, before);
    const steady = encoder.encode(fixed("/a"));
    assert.equal(encoder.generation, afterFirst);
    assert.deepEqual(encoder.encode(fixed("/a")), steady, "the same fields, the same bytes");
    encoder.encode(fixed("/b"));
    assert.notEqual(encoder.generation, afterFirst);
  });

  it("leaves the table alone for fields sent after its block by encodeHeaderBlock", () => {
    const encoder = new HpackEncoder();
    const decoder = new HpackDecoder();
    const literal: Fields = [
      ["grpc-timeout", "4999m"],
      ["authorization", "token"],
      ["hasleader", "true"],
    ];
    for (let i = 0; i < 3; i++) {
      const block = Buffer.concat([encoder.encode(fixed("/a")), encodeHeaderBlock(literal)]);
      assert.deepEqual(Object.entries(decoder.decode(block)), [...fixed("/a"), ...literal]);
    }
    assert.equal(decoder.tableLength, 5, "only the fixed fields went in");
  });

  it("never evicts: once the table is full, new fields go as literals", () => {
    const encoder = new HpackEncoder();
    const decoder = new HpackDecoder();
    const paths = Array.from({ length: 120 }, (_, i) => `/etcdserverpb.Maintenance/Method${i}`);
    let entries = 0;
    for (let round = 0; round < 2; round++) {
      for (const path of paths) {
        const before = decoder.tableLength;
        assert.deepEqual(Object.entries(decoder.decode(encoder.encode(fixed(path)))), fixed(path));
        // An eviction would show as the table losing an entry it had.
        assert.ok(decoder.tableLength >= before);
        entries = decoder.tableLength;
      }
    }
    assert.ok(decoder.tableSize <= 4096);
    assert.equal(encoder.tableSize, decoder.tableSize);
    assert.ok(entries < paths.length, `the table holds ${entries} entries, not all ${paths.length} paths`);
    const last = encoder.encode(fixed(paths[paths.length - 1] as string));
    assert.ok(last.length > 30, "a path that did not fit still goes as a literal");
  });

  it("empties and resizes the peer's table at the next block when the peer shrinks it", () => {
    const encoder = new HpackEncoder();
    const decoder = new HpackDecoder();
    decoder.decode(encoder.encode(fixed("/a")));
    const generation = encoder.generation;
    encoder.setPeerTableSize(200);
    assert.notEqual(encoder.generation, generation, "blocks kept before the change are stale");
    const block = encoder.encode(fixed("/a"));
    // A size update to 0, then to 200 (31 + 169 in a 5-bit prefix).
    assert.deepEqual([...block.subarray(0, 4)], [0x20, 0x3f, 0xa9, 0x01]);
    assert.deepEqual(Object.entries(decoder.decode(block)), fixed("/a"));
    assert.ok(decoder.tableSize <= 200);
    assert.equal(encoder.tableSize, decoder.tableSize);
    const steady = encoder.encode(fixed("/a"));
    assert.notEqual(steady[0], 0x20, "the update goes once");
    assert.deepEqual(Object.entries(decoder.decode(steady)), fixed("/a"));
  });

  it("ignores a larger peer table, and inserts nothing into a table of 0", () => {
    const encoder = new HpackEncoder();
    const decoder = new HpackDecoder();
    encoder.setPeerTableSize(65_536);
    assert.equal(encoder.generation, 0);
    encoder.setPeerTableSize(0);
    const block = encoder.encode(fixed("/a"));
    assert.equal(block[0], 0x20);
    assert.notEqual(block[1], 0x20, "a table of 0 needs one update");
    assert.deepEqual(Object.entries(decoder.decode(block)), fixed("/a"));
    assert.deepEqual(Object.entries(decoder.decode(encoder.encode(fixed("/a")))), fixed("/a"));
    assert.equal(decoder.tableLength, 0);
    assert.equal(encoder.tableSize, 0);
  });
});
