import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { describe, it } from "node:test";
import { exponentialBackoff, jittered, sleep } from "./backoff.js";

describe("jittered", () => {
  it("stays within +/- the jitter share over 1000 samples", () => {
    const samples = Array.from({ length: 1000 }, () => jittered(25, 0.1));
    for (const delay of samples) {
      assert.ok(delay >= 22.5 && delay <= 27.5, `${delay} is outside 22.5..27.5`);
    }
    // Random, not a constant: 1000 draws of the same value would mean no jitter at all.
    assert.ok(new Set(samples).size > 1);
  });

  it("spreads to both sides of the delay", () => {
    const samples = Array.from({ length: 1000 }, () => jittered(1000, 0.5));
    assert.ok(samples.every((d) => d >= 500 && d <= 1500));
    assert.ok(samples.some((d) => d < 1000));
    assert.ok(samples.some((d) => d > 1000));
  });

  it("returns the delay unchanged without jitter", () => {
    for (let i = 0; i < 100; i++) assert.equal(jittered(40, 0), 40);
  });

  it("keeps a zero delay at zero", () => {
    assert.equal(jittered(0, 0.1), 0);
  });
});

describe("exponentialBackoff", () => {
  const table: Array<[number, number]> = [
    [0, 100],
    [1, 200],
    [2, 400],
    [3, 800],
    [5, 3200],
    [6, 5000],
    [10, 5000],
    [1000, 5000],
  ];
  for (const [attempt, expected] of table) {
    it(`attempt ${attempt} waits ${expected} ms without jitter`, () => {
      assert.equal(exponentialBackoff(attempt, 100, 5000, 0), expected);
    });
  }

  it("never exceeds the cap by more than the jitter share", () => {
    for (let attempt = 0; attempt < 64; attempt++) {
      const delay = exponentialBackoff(attempt, 100, 5000);
      assert.ok(Number.isFinite(delay), `attempt ${attempt} gave ${delay}`);
      assert.ok(delay <= 5000 * 1.2, `attempt ${attempt} gave ${delay}`);
      assert.ok(delay >= Math.min(5000, 100 * 2 ** attempt) * 0.8, `attempt ${attempt} gave ${delay}`);
    }
  });

  it("stays finite for huge attempt counts", () => {
    assert.equal(exponentialBackoff(Number.MAX_SAFE_INTEGER, 1, 60_000, 0), 60_000);
  });
});

describe("sleep", () => {
  it("resolves with nothing when not aborted", async () => {
    assert.equal(await sleep(0), undefined);
    assert.equal(await sleep(0, new AbortController().signal), undefined);
  });

  it("rejects with the signal's reason when already aborted", async () => {
    const controller = new AbortController();
    const reason = new Error("gone");
    controller.abort(reason);
    await assert.rejects(sleep(60_000, controller.signal), (error: unknown) => error === reason);
  });

  it("rejects with the signal's reason as soon as it aborts", async () => {
    const controller = new AbortController();
    const reason = new Error("stop waiting");
    const order: string[] = [];
    const waiting = sleep(60_000, controller.signal).then(
      () => order.push("resolved"),
      (error: unknown) =>
        order.push(error === reason ? "rejected with reason" : `rejected with ${String(error)}`),
    );
    order.push("aborting");
    controller.abort(reason);
    await waiting;
    assert.deepEqual(order, ["aborting", "rejected with reason"]);
  });

  it("uses the default AbortError reason when none is given", async () => {
    const controller = new AbortController();
    const waiting = sleep(60_000, controller.signal);
    controller.abort();
    await assert.rejects(waiting, { name: "AbortError" });
  });

  it("removes its abort listener once it resolves", async () => {
    const controller = new AbortController();
    await sleep(0, controller.signal);
    assert.equal(getEventListeners(controller.signal, "abort").length, 0);
    controller.abort(new Error("late"));
  });

  it("leaves no abort listener behind after an abort", async () => {
    const controller = new AbortController();
    const waiting = sleep(60_000, controller.signal);
    assert.equal(getEventListeners(controller.signal, "abort").length, 1);
    controller.abort(new Error("stop"));
    await assert.rejects(waiting, /stop/);
    assert.equal(getEventListeners(controller.signal, "abort").length, 0);
  });
});
