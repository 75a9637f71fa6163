import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import { EnvelopeReader, type EnvelopeSink } from "./envelope-reader.js";

const noMessage: EnvelopeSink = { onMessage: () => assert.fail("no message expected") };
const ignore: EnvelopeSink = { onMessage: () => {} };

function envelope(payload: Uint8Array, flags = 0): Buffer {
  const out = Buffer.alloc(5 + payload.length);
  out[0] = flags;
  out.writeUInt32BE(payload.length, 1);
  out.set(payload, 5);
  return out;
}

// Feeds `bytes` in chunks of `size` and returns the messages read, as Buffers.
function readAll(reader: EnvelopeReader, bytes: Buffer, size: number): Buffer[] {
  const messages: Buffer[] = [];
  for (let off = 0; off < bytes.length; off += size) {
    const error = reader.push(bytes.subarray(off, off + size), {
      onMessage: (m) => messages.push(Buffer.from(m)),
    });
    assert.equal(error, undefined);
  }
  return messages;
}

describe("EnvelopeReader", () => {
  it("reads only the range of a chunk it is given", () => {
    const payloads = [randomBytes(10), randomBytes(0), randomBytes(3_000)];
    const wire = Buffer.concat([randomBytes(7), ...payloads.map((p) => envelope(p)), randomBytes(9)]);
    const reader = new EnvelopeReader(1 << 20);
    const messages: Buffer[] = [];
    const sink: EnvelopeSink = { onMessage: (m) => messages.push(Buffer.from(m)) };
    // The envelopes lie between 7 bytes of junk and 9 more; they arrive in two ranges.
    const middle = 7 + 15 + 2;
    assert.equal(reader.push(wire, sink, 7, middle), undefined);
    assert.equal(reader.push(wire, sink, middle, wire.length - 9), undefined);
    assert.deepEqual(messages, payloads);
    assert.equal(reader.pending, 0);
  });

  it("reads messages whole however the bytes are split, down to one byte per chunk", () => {
    const payloads = [randomBytes(0), randomBytes(1), randomBytes(70_000), randomBytes(300)];
    const wire = Buffer.concat(payloads.map((p) => envelope(p)));
    for (const size of [1, 3, 5, 7, 16_384, wire.length]) {
      const reader = new EnvelopeReader(1 << 20);
      assert.deepEqual(readAll(reader, wire, size), payloads, `chunks of ${size}`);
      assert.equal(reader.pending, 0);
    }
  });

  it("hands out a view for a message in one chunk and its own buffer for an assembled one", () => {
    const reader = new EnvelopeReader(1 << 20);
    const owned: boolean[] = [];
    const wire = envelope(randomBytes(10));
    reader.push(wire, { onMessage: (_m, own) => owned.push(own) });
    reader.push(wire.subarray(0, 8), { onMessage: (_m, own) => owned.push(own) });
    reader.push(wire.subarray(8), { onMessage: (_m, own) => owned.push(own) });
    assert.deepEqual(owned, [false, true]);
  });

  it("assembles a message over many segments into one plain Uint8Array of its own", () => {
    // Segments are 64 KiB: this message fills three and starts a fourth, and chunks of 7 bytes
    // straddle every boundary between them.
    const payload = randomBytes(3 * 65_536 + 11);
    for (const size of [7, 16_384, 65_536 + 5]) {
      const reader = new EnvelopeReader(1 << 20);
      const messages: Uint8Array[] = [];
      const wire = envelope(payload);
      for (let off = 0; off < wire.length; off += size) {
        reader.push(wire.subarray(off, off + size), { onMessage: (m) => messages.push(m) });
      }
      const [message] = messages;
      assert.equal(messages.length, 1, `chunks of ${size}`);
      assert.ok(message !== undefined && Buffer.from(message).equals(payload), `chunks of ${size}`);
      // Not a Buffer: decoded bytes fields are views of it, and a Buffer's slice() shares memory
      // where a Uint8Array's copies. Its own ArrayBuffer: a unary answer is then decoded in place.
      assert.equal(Object.getPrototypeOf(message), Uint8Array.prototype);
      assert.equal(message.buffer.byteLength, payload.length);
    }
  });

  it("counts the bytes of a message still being assembled", () => {
    const reader = new EnvelopeReader(1 << 20);
    const wire = envelope(randomBytes(100));
    reader.push(wire.subarray(0, 3), noMessage);
    assert.equal(reader.pending, 3);
    reader.push(wire.subarray(3, 50), noMessage);
    assert.equal(reader.pending, 50);
  });

  it("refuses a declared length over the limit from its 5-byte header, before any body", () => {
    const reader = new EnvelopeReader(1024);
    const header = Buffer.from([0, 0, 0, 4, 1]);
    const error = reader.push(header, noMessage);
    assert.equal(error?.code, Code.ResourceExhausted);
    assert.match(error?.message ?? "", /1025 is larger than configured readMaxBytes 1024/);
  });

  it("refuses a compressed message", () => {
    const error = new EnvelopeReader(1024).push(envelope(randomBytes(4), 1), noMessage);
    assert.equal(error?.code, Code.Internal);
  });

  it("keeps memory to what arrived, not to what a peer declared", () => {
    const reader = new EnvelopeReader(2 ** 31 - 1);
    const header = Buffer.alloc(5);
    header.writeUInt32BE(2 ** 31 - 2, 1);
    const before = process.memoryUsage().arrayBuffers;
    assert.equal(reader.push(header, ignore), undefined);
    reader.push(randomBytes(1000), ignore);
    // 2 GiB declared; 64 KiB allocated for the first bytes.
    assert.ok(process.memoryUsage().arrayBuffers - before < 1 << 20);
    assert.equal(reader.pending, 1005);
    // 3 MiB more: segments for what arrived, nothing for the rest of the declared length.
    const more = randomBytes(3 << 20);
    const afterMore = process.memoryUsage().arrayBuffers;
    reader.push(more, ignore);
    const held = process.memoryUsage().arrayBuffers - afterMore;
    assert.ok(held >= 3 << 20 && held < 4 << 20, `${held} bytes held for 3 MiB received`);
  });

  it("hands a message of 256 KiB or more to a sink that takes parts as views of its chunks", () => {
    const payload = randomBytes(300 << 10);
    const wire = envelope(payload);
    // Chunks of 16 KiB + 9 bytes, each in a buffer of its own (a DATA frame's payload in a read).
    const chunks: Buffer[] = [];
    for (let off = 0; off < wire.length; off += 16_393)
      chunks.push(Buffer.from(wire.subarray(off, off + 16_393)));
    const reader = new EnvelopeReader(1 << 20);
    const got: Uint8Array[][] = [];
    const sink: EnvelopeSink = {
      onMessage: () => assert.fail("parts expected"),
      onMessageParts: (p) => got.push(p),
    };
    for (const chunk of chunks) assert.equal(reader.push(chunk, sink), undefined);
    const [parts] = got;
    assert.equal(got.length, 1);
    assert.ok(parts !== undefined && Buffer.concat(parts).equals(payload));
    assert.equal(reader.pending, 0);
    // Every piece is 4 KiB or more (the last 12,131 bytes), so each is a view of its chunk.
    assert.deepEqual(
      parts.map((part) => part.buffer),
      chunks.map((chunk) => chunk.buffer),
    );
    for (const part of parts) assert.equal(Object.getPrototypeOf(part), Uint8Array.prototype);
  });

  it("gives a sink that takes parts a smaller message, or one of small pieces, in one buffer", () => {
    for (const [length, size] of [
      [(256 << 10) - 1, 16_384],
      [300 << 10, 4095],
    ] as const) {
      const payload = randomBytes(length);
      const wire = envelope(payload);
      const reader = new EnvelopeReader(1 << 20);
      const messages: Uint8Array[] = [];
      const sink: EnvelopeSink = {
        onMessage: (m, owned) => {
          assert.ok(owned);
          messages.push(m);
        },
        onMessageParts: () => assert.fail(`one buffer expected for ${length} bytes in pieces of ${size}`),
      };
      for (let off = 0; off < wire.length; off += size)
        reader.push(Buffer.from(wire.subarray(off, off + size)), sink);
      assert.equal(messages.length, 1);
      assert.ok(Buffer.from(messages[0] as Uint8Array).equals(payload));
    }
  });

  it("gathers the small pieces between views into shared segments: a peer cannot make a view per byte", () => {
    // Pieces of 1 byte and of 8 KiB in turn: a view for each large piece, the small ones
    // gathered into one segment (views of its successive regions).
    const payload = randomBytes(64 * (8192 + 1));
    const wire = envelope(payload);
    const reader = new EnvelopeReader(1 << 20);
    let parts: Uint8Array[] = [];
    const sink: EnvelopeSink = {
      onMessage: () => assert.fail("parts expected"),
      onMessageParts: (p) => {
        parts = p;
      },
    };
    reader.push(Buffer.from(wire.subarray(0, 5)), sink);
    for (let off = 5; off < wire.length; off += 8193) {
      reader.push(Buffer.from(wire.subarray(off, off + 1)), sink);
      reader.push(Buffer.from(wire.subarray(off + 1, off + 8193)), sink);
    }
    assert.ok(Buffer.concat(parts).equals(payload));
    assert.equal(parts.length, 128);
    const segments = new Set(parts.filter((part) => part.length === 1).map((part) => part.buffer));
    assert.equal(segments.size, 1, "the 64 single bytes share one segment");
  });

  it("keeps no more than what arrived for a sink that takes parts: the chunks themselves", () => {
    const reader = new EnvelopeReader(2 ** 31 - 1);
    const header = Buffer.alloc(5);
    header.writeUInt32BE(2 ** 31 - 2, 1);
    const sink: EnvelopeSink = { onMessage: () => {}, onMessageParts: () => {} };
    assert.equal(reader.push(header, sink), undefined);
    const chunks = Array.from({ length: 192 }, () => randomBytes(16 << 10));
    const before = process.memoryUsage().arrayBuffers;
    for (const chunk of chunks) reader.push(chunk, sink);
    const held = process.memoryUsage().arrayBuffers - before;
    assert.equal(reader.pending, 5 + (3 << 20));
    assert.ok(held < 64 << 10, `${held} bytes allocated for 3 MiB received as views`);
  });
});
