import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ByteBacklog } from "./byte-backlog.js";

describe("ByteBacklog", () => {
  it("gives back the bytes appended, in order, in pieces of at most the size asked", () => {
    const backlog = new ByteBacklog();
    const sent: number[] = [];
    for (let i = 0; i < 50_000; i++) {
      backlog.append(Uint8Array.of(i & 0xff));
      sent.push(i & 0xff);
    }
    assert.equal(backlog.size, 50_000);
    const got: number[] = [];
    while (backlog.size > 0) {
      const piece = backlog.take(16_384);
      assert.ok(piece.length > 0 && piece.length <= 16_384);
      got.push(...piece);
    }
    assert.deepEqual(got, sent);
    assert.equal(backlog.take(10).length, 0);
  });

  it("never writes over bytes it handed out, through appends and growth", () => {
    const backlog = new ByteBacklog();
    const taken: Array<[Uint8Array, number]> = [];
    let next = 0;
    for (let round = 0; round < 200; round++) {
      // Appends of varied sizes (up to 40 KB, past the first buffer) between takes of varied sizes.
      const n = (round * 7919) % 40_000;
      backlog.append(new Uint8Array(n).fill(round & 0xff));
      const piece = backlog.take((round * 104_729) % 30_000);
      taken.push([piece, next]);
      next += piece.length;
    }
    // Every view still holds what was appended at its position.
    const expected: number[] = [];
    for (let round = 0; round < 200; round++) {
      const n = (round * 7919) % 40_000;
      for (let i = 0; i < n; i++) expected.push(round & 0xff);
    }
    for (const [piece, at] of taken) {
      for (let i = 0; i < piece.length; i += 997) assert.equal(piece[i], expected[at + i]);
    }
    assert.equal(backlog.size, expected.length - next);
  });

  it("keeps only the range asked of what it is given, small ranges and large", () => {
    const backlog = new ByteBacklog();
    const source = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 31) & 0xff);
    const expected: number[] = [];
    // Ranges around the size copied byte by byte (64) and past a frame (16 KiB), at odd offsets.
    for (const [start, end] of [
      [3, 3],
      [5, 69],
      [7, 71],
      [100, 164],
      [101, 166],
      [1_000, 20_000],
      [0, 70_000],
    ] as const) {
      backlog.append(source, start, end);
      expected.push(...source.subarray(start, end));
    }
    const got: number[] = [];
    while (backlog.size > 0) got.push(...backlog.take(9_999));
    assert.deepEqual(got, expected);
  });

  it("clear() drops what is kept", () => {
    const backlog = new ByteBacklog();
    backlog.append(new Uint8Array(100));
    backlog.clear();
    assert.equal(backlog.size, 0);
    assert.equal(backlog.take(100).length, 0);
  });
});
