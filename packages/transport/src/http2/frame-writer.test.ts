import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { describe, it } from "node:test";
import { frameFlag, frameHeaderBytes, frameType } from "./frame.js";
import { Http2FrameWriter } from "./frame-writer.js";
import { maxQueuedWriteBytes } from "./limits.js";

// A socket that records writes and refuses them (as a peer that does not read) until drained.
class FakeSocket extends EventEmitter {
  destroyed = false;
  refuse = true;
  readonly writes: Buffer[] = [];
  write(buf: Buffer): boolean {
    this.writes.push(Buffer.from(buf));
    return !this.refuse;
  }
}

const tick = () => new Promise((resolve) => process.nextTick(resolve));

describe("Http2FrameWriter", () => {
  it("writes the frames of a tick in one write, headers and payloads in order", async () => {
    const socket = new FakeSocket();
    socket.refuse = false;
    const writer = new Http2FrameWriter(socket as unknown as Socket, () => assert.fail("overflowed"));
    writer.frame(frameType.ping, 0, 0, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    writer.frame(frameType.data, frameFlag.endStream, 3, undefined);
    await tick();
    assert.equal(socket.writes.length, 1);
    const out = socket.writes[0] as Buffer;
    assert.equal(out.length, 2 * frameHeaderBytes + 8);
    assert.deepEqual([...out.subarray(0, frameHeaderBytes)], [0, 0, 8, frameType.ping, 0, 0, 0, 0, 0]);
    assert.deepEqual([...out.subarray(frameHeaderBytes, frameHeaderBytes + 8)], [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual([...out.subarray(17)], [0, 0, 0, frameType.data, frameFlag.endStream, 0, 0, 0, 3]);
  });

  it("copies an answer's payload when queued: it may be a view into a read the peer reuses", async () => {
    const socket = new FakeSocket();
    const writer = new Http2FrameWriter(socket as unknown as Socket, () => assert.fail("overflowed"));
    writer.frame(frameType.settings, 0, 0, undefined);
    await tick(); // refused: the writer now waits for 'drain'
    const read = Buffer.alloc(64 * 1024, 7);
    assert.ok(writer.answer(frameType.ping, frameFlag.ack, 0, read.subarray(100, 108)));
    read.fill(0);
    socket.refuse = false;
    socket.emit("drain");
    const out = socket.writes[1] as Buffer;
    assert.deepEqual([...out.subarray(frameHeaderBytes)], [7, 7, 7, 7, 7, 7, 7, 7]);
  });

  it("holds at most maxQueuedWriteBytes for a socket that refuses writes, then drops it all and says so once", async () => {
    const socket = new FakeSocket();
    let overflows = 0;
    const writer = new Http2FrameWriter(socket as unknown as Socket, () => overflows++);
    writer.frame(frameType.settings, 0, 0, undefined);
    await tick(); // refused: the writer now waits for 'drain'
    const payload = new Uint8Array(16_384);
    const fits = Math.floor(maxQueuedWriteBytes / (frameHeaderBytes + payload.length));
    for (let i = 0; i < fits; i++) writer.frame(frameType.data, 0, 1, payload);
    await tick();
    assert.equal(overflows, 0, "within the bound");
    writer.frame(frameType.data, 0, 1, payload);
    writer.frame(frameType.data, 0, 1, payload);
    assert.equal(overflows, 0, "told on the next tick, not from inside frame()");
    await tick();
    assert.equal(overflows, 1);
    // Nothing is held or written any more, even once the socket drains.
    socket.refuse = false;
    socket.emit("drain");
    writer.frame(frameType.ping, 0, 0, new Uint8Array(8));
    await tick();
    assert.equal(socket.writes.length, 1);
    assert.equal(overflows, 1);
  });
});
