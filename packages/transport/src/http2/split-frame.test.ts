import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { SplitFrame } from "./split-frame.js";

function frame(payload: Uint8Array, type = 0, flags = 0, id = 1): Buffer {
  const out = Buffer.alloc(9 + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(id, 5);
  out.set(payload, 9);
  return out;
}

describe("SplitFrame", () => {
  it("gathers a frame whatever the reads' sizes, taking only the bytes it lacks", () => {
    const payload = randomBytes(16_384);
    const after = randomBytes(40);
    const wire = Buffer.concat([frame(payload), after]);
    for (const size of [1, 4, 9, 10, 1000, 16_393, wire.length]) {
      const split = new SplitFrame();
      let off = 0;
      while (!split.complete) {
        const chunk = wire.subarray(off, off + size);
        const lacking = 16_393 - off;
        const next = split.take(chunk, 0, 16_384);
        // Whatever follows the frame in the read is left where it lies.
        assert.equal(next, Math.min(lacking, chunk.length), `reads of ${size} at ${off}`);
        off += next;
      }
      assert.equal(off, 16_393, `reads of ${size}`);
      assert.deepEqual(split.frame, frame(payload), `reads of ${size}`);
      assert.equal(split.declaredPayload, 16_384);
    }
  });

  it("takes from the offset it is given", () => {
    const wire = Buffer.concat([randomBytes(5), frame(randomBytes(3))]);
    const split = new SplitFrame();
    assert.equal(split.take(wire, 5, 100), wire.length);
    assert.ok(split.complete);
    assert.deepEqual(split.frame, wire.subarray(5));
  });

  it("completes a frame without payload at its header", () => {
    const split = new SplitFrame();
    const wire = frame(new Uint8Array(0), 4, 1, 0);
    assert.equal(split.take(wire.subarray(0, 4), 0, 100), 4);
    assert.equal(split.complete, false);
    assert.equal(split.declaredPayload, 0);
    assert.equal(split.take(wire.subarray(4), 0, 100), 5);
    assert.ok(split.complete);
    assert.deepEqual(split.frame, wire);
  });

  it("refuses a header over the limit before keeping anything for the payload", () => {
    const split = new SplitFrame();
    const header = frame(new Uint8Array(0));
    header.writeUIntBE(16_385, 0, 3);
    assert.equal(split.take(header.subarray(0, 2), 0, 16_384), 2);
    assert.equal(split.take(header.subarray(2), 0, 16_384), -1);
    assert.equal(split.declaredPayload, 16_385);
    assert.equal(split.complete, false);
  });
});
