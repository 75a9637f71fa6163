import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { poll } from "@etcd-connect/transport";
import { AsyncQueue } from "./async-queue.js";

// A collector the test can call without starting node with --expose-gc.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

describe("AsyncQueue", () => {
  it("hands items to a waiting reader, then queued ones in order, then the end", async () => {
    const queue = new AsyncQueue<number>();
    const waiting = queue.next();
    queue.push(1);
    assert.deepEqual(await waiting, { done: false, value: 1 });
    queue.push(2);
    queue.push(3);
    queue.end();
    assert.deepEqual(await queue.next(), { done: false, value: 2 });
    assert.deepEqual(await queue.next(), { done: false, value: 3 });
    assert.deepEqual(await queue.next(), { done: true, value: undefined });
  });

  it("hands out what it holds through poll, without a promise: items, then the end or its error", () => {
    const queue = new AsyncQueue<number>();
    assert.equal(poll(queue), undefined, "nothing held yet");
    queue.push(1);
    queue.push(2);
    assert.deepEqual(poll(queue), { done: false, value: 1 });
    assert.deepEqual(poll(queue), { done: false, value: 2 });
    assert.equal(poll(queue), undefined);
    queue.end();
    assert.deepEqual(poll(queue), { done: true, value: undefined });

    const failed = new AsyncQueue<number>();
    failed.push(3);
    failed.end(new Error("boom"));
    assert.deepEqual(poll(failed), { done: false, value: 3 });
    assert.throws(() => poll(failed), /boom/);
    // The error is handed out once, as next() rejects once.
    assert.deepEqual(poll(failed), { done: true, value: undefined });
  });

  it("gives the error after the queued items", async () => {
    const queue = new AsyncQueue<number>();
    queue.push(1);
    queue.end(new Error("boom"));
    assert.deepEqual(await queue.next(), { done: false, value: 1 });
    await assert.rejects(queue.next(), /boom/);
  });

  it("runs onReturn once when the reader stops early", async () => {
    let returned = 0;
    const queue = new AsyncQueue<number>(() => returned++);
    queue.push(1);
    for await (const item of queue) {
      assert.equal(item, 1);
      break;
    }
    await queue.return();
    assert.equal(returned, 1);
    assert.equal(queue.isEnded, true);
  });

  it("lets go of items it handed out, so a queue that drops its oldest holds one", async () => {
    // The lease keeper's use: keep the latest item for a reader that is not there.
    const queue = new AsyncQueue<object>();
    const taken: WeakRef<object>[] = [];
    for (let i = 0; i < 100; i++) {
      const item = { i };
      taken.push(new WeakRef(item));
      if (queue.size >= 1) await queue.next();
      queue.push(item);
    }
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    const alive = taken.filter((ref) => ref.deref() !== undefined).length;
    assert.equal(queue.size, 1);
    assert.equal(alive, 1, `${alive} of 100 items still reachable`);
  });

  it("pushLatest keeps only the latest items, in order, and lets go of the rest", async () => {
    const queue = new AsyncQueue<object>();
    const taken: WeakRef<object>[] = [];
    // In a function of its own: a suspended async function would hold its last local.
    const fill = () => {
      for (let i = 0; i < 100; i++) {
        const item = { i };
        taken.push(new WeakRef(item));
        queue.pushLatest(item, 2);
      }
    };
    fill();
    assert.equal(queue.size, 2);
    assert.ok((queue as unknown as { items: unknown[] }).items.length <= 64, "consumed slots are compacted");
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    const alive = taken.filter((ref) => ref.deref() !== undefined).length;
    assert.equal(alive, 2, `${alive} of 100 items still reachable`);
    assert.deepEqual(await queue.next(), { done: false, value: { i: 98 } });
    assert.deepEqual(await queue.next(), { done: false, value: { i: 99 } });
    // A waiting reader gets the item at once; after the end nothing is added.
    const waiting = queue.next();
    queue.pushLatest({ i: 100 }, 1);
    assert.deepEqual(await waiting, { done: false, value: { i: 100 } });
    queue.end();
    queue.pushLatest({ i: 101 }, 1);
    assert.deepEqual(await queue.next(), { done: true, value: undefined });
  });
});
