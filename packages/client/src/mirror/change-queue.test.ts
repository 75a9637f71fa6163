import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ChangeQueue } from "./change-queue.js";
import type { MirrorBatch, MirrorChange } from "./mirror.js";

const text = (value: string) => new TextEncoder().encode(value);
const put = (
  key: string,
  value: string,
  prevValue: string | undefined,
  rev: number,
): MirrorChange<string> => ({
  type: "put",
  key: text(key),
  value,
  prevValue,
  modRevision: BigInt(rev),
});
const del = (key: string, prevValue: string, rev: number): MirrorChange<string> => ({
  type: "delete",
  key: text(key),
  prevValue,
  modRevision: BigInt(rev),
});
const batch = (...changes: MirrorChange<string>[]): MirrorBatch<string> => ({
  kind: "events",
  changes,
  revision: changes[changes.length - 1]?.modRevision ?? 0n,
});
// A change as plain text, for comparisons.
const show = (change: MirrorChange<string>) =>
  `${change.type} ${new TextDecoder().decode(change.key)} ${change.type === "put" ? change.value : "-"} (was ${change.prevValue ?? "absent"}) @${change.modRevision}`;

describe("ChangeQueue", () => {
  it("hands batches over in order while the reader keeps up", async () => {
    const queue = new ChangeQueue<string>(10, () => {});
    const waiting = queue.next();
    queue.push(batch(put("a", "1", undefined, 2)));
    queue.push(batch(put("a", "2", "1", 3)));
    assert.equal((await waiting).value?.kind, "events");
    const second = await queue.next();
    assert.deepEqual(second.value?.changes.map(show), ["put a 2 (was 1) @3"]);
    assert.equal(queue.size, 0);
  });

  it("keeps a single batch larger than the limit as it is", async () => {
    const queue = new ChangeQueue<string>(2, () => {});
    queue.push(batch(put("a", "1", undefined, 2), put("b", "1", undefined, 2), put("c", "1", undefined, 2)));
    assert.equal(queue.isCoalescing, false);
    assert.equal((await queue.next()).value?.changes.length, 3);
  });

  it("past the limit, merges what is unread into one change per key: what the reader saw, and now", async () => {
    const queue = new ChangeQueue<string>(3, () => {});
    queue.push(batch(put("a", "1", "0", 2)));
    queue.push(batch(put("a", "2", "1", 3), put("b", "1", undefined, 3)));
    assert.equal(queue.isCoalescing, false);
    queue.push(batch(put("a", "3", "2", 4)));
    assert.equal(queue.isCoalescing, true);
    // Created and deleted while the reader was away: nothing to tell.
    queue.push(batch(put("c", "1", undefined, 5)));
    queue.push(batch(del("c", "1", 6)));
    queue.push(batch(del("d", "9", 7)));
    assert.equal(queue.size, 3, "a, b and d pending; c came and went");
    const merged = await queue.next();
    assert.equal(merged.value?.kind, "coalesced");
    assert.equal(merged.value?.revision, 7n);
    assert.deepEqual(merged.value?.changes.map(show).sort(), [
      "delete d - (was 9) @7",
      "put a 3 (was 0) @4",
      "put b 1 (was absent) @3",
    ]);
    // Caught up: batches pass one by one again.
    queue.push(batch(put("a", "4", "3", 8)));
    assert.equal(queue.isCoalescing, false);
    assert.deepEqual((await queue.next()).value?.changes.map(show), ["put a 4 (was 3) @8"]);
  });

  it("holds one pending change per key however many writes a stalled reader misses", () => {
    const queue = new ChangeQueue<string>(10, () => {});
    for (let i = 0; i < 10_000; i++) {
      const key = `k${i % 50}`;
      queue.push(batch(put(key, String(i), i < 50 ? undefined : String(i - 50), i + 2)));
      // Keys that come and go leave nothing behind.
      queue.push(batch(put(`tmp${i}`, "x", undefined, i + 2), del(`tmp${i}`, "x", i + 2)));
    }
    assert.equal(queue.isCoalescing, true);
    assert.equal(queue.size, 50);
  });

  it("a deleted key put back is a put from what the reader saw", async () => {
    const queue = new ChangeQueue<string>(1, () => {});
    queue.push(batch(del("a", "1", 2)));
    queue.push(batch(put("a", "2", undefined, 3)));
    const merged = await queue.next();
    assert.deepEqual(merged.value?.changes.map(show), ["put a 2 (was 1) @3"]);
  });

  it("ends after what is queued, with the error if there is one, and tells its owner once", async () => {
    let ended = 0;
    const queue = new ChangeQueue<string>(10, () => ended++);
    queue.push(batch(put("a", "1", undefined, 2)));
    queue.end(new Error("boom"));
    queue.end();
    assert.equal(ended, 1);
    assert.equal((await queue.next()).done, false);
    await assert.rejects(queue.next(), /boom/);
    assert.equal((await queue.next()).done, true);
  });

  it("a waiting reader ends when the queue ends; a reader that leaves drops what is queued", async () => {
    let ended = 0;
    const queue = new ChangeQueue<string>(10, () => ended++);
    const waiting = queue.next();
    queue.end();
    assert.equal((await waiting).done, true);
    const other = new ChangeQueue<string>(10, () => ended++);
    other.push(batch(put("a", "1", undefined, 2)));
    await other.return();
    assert.equal(other.size, 0);
    assert.equal((await other.next()).done, true);
    other.push(batch(put("a", "2", "1", 3)));
    assert.equal(other.size, 0);
    assert.equal(ended, 2);
  });

  it("ends on its signal, at once when it is already aborted", async () => {
    const abort = new AbortController();
    const queue = new ChangeQueue<string>(10, () => {}, abort.signal);
    const waiting = queue.next();
    abort.abort();
    assert.equal((await waiting).done, true);
    const late = new ChangeQueue<string>(10, () => {}, abort.signal);
    assert.equal(late.isEnded, true);
  });
});
