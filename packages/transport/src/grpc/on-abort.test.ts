import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { describe, it } from "node:test";
import { onAbort } from "./on-abort.js";

describe("onAbort", () => {
  it("keeps one listener on a signal shared by 10,000 waiters, and none once they stop", () => {
    const controller = new AbortController();
    const unlinks = Array.from({ length: 10_000 }, () => onAbort(controller.signal, () => {}));
    assert.equal(getEventListeners(controller.signal, "abort").length, 1);
    for (const unlink of unlinks) unlink();
    assert.equal(getEventListeners(controller.signal, "abort").length, 0);
  });

  it("runs every waiter once on abort, not those that stopped waiting", () => {
    const controller = new AbortController();
    const ran: number[] = [];
    onAbort(controller.signal, () => ran.push(1));
    const stop = onAbort(controller.signal, () => ran.push(2));
    onAbort(controller.signal, () => ran.push(3));
    stop();
    controller.abort();
    controller.abort();
    assert.deepEqual(ran, [1, 3]);
    assert.equal(getEventListeners(controller.signal, "abort").length, 0);
  });

  it("starts afresh after the last waiter left", () => {
    const controller = new AbortController();
    onAbort(controller.signal, () => {})();
    let ran = false;
    onAbort(controller.signal, () => {
      ran = true;
    });
    controller.abort();
    assert.equal(ran, true);
  });
});
