import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RttEstimator } from "./rtt-estimator.js";

describe("RttEstimator", () => {
  it("waits the floor before any sample", () => {
    assert.equal(new RttEstimator({ floorMs: 500, ceilingMs: 5000 }).timeoutMs(), 500);
  });

  it("follows the round trips a path shows: SRTT + 4 RTTVAR (RFC 6298), within floor and ceiling", () => {
    const rtt = new RttEstimator({ floorMs: 100, ceilingMs: 5000 });
    rtt.sample(400);
    // First sample: SRTT 400, RTTVAR 200.
    assert.equal(rtt.timeoutMs(), 400 + 4 * 200);
    rtt.sample(400);
    // RTTVAR 0.75 * 200 + 0.25 * 0 = 150; SRTT stays 400.
    assert.equal(rtt.timeoutMs(), 400 + 4 * 150);
    assert.equal(rtt.smoothedMs, 400);
    const fast = new RttEstimator({ floorMs: 100, ceilingMs: 5000 });
    for (let i = 0; i < 50; i++) fast.sample(1);
    assert.equal(fast.timeoutMs(), 100, "never under the floor");
    const slow = new RttEstimator({ floorMs: 100, ceilingMs: 5000 });
    slow.sample(4000);
    assert.equal(slow.timeoutMs(), 5000, "never over the ceiling");
  });

  it("a burst of slow answers raises the timeout rather than tripping it each time", () => {
    const rtt = new RttEstimator({ floorMs: 1000, ceilingMs: 10_000 });
    for (let i = 0; i < 20; i++) rtt.sample(5);
    const before = rtt.timeoutMs();
    rtt.sample(1500);
    assert.ok(rtt.timeoutMs() > 1500, `timeout ${rtt.timeoutMs()} after a 1.5 s answer`);
    assert.equal(before, 1000);
  });

  it("doubles after each expiry until the next answer, up to the ceiling", () => {
    const rtt = new RttEstimator({ floorMs: 500, ceilingMs: 3000 });
    rtt.backoff();
    assert.equal(rtt.timeoutMs(), 1000);
    rtt.backoff();
    assert.equal(rtt.timeoutMs(), 2000);
    rtt.backoff();
    rtt.backoff();
    assert.equal(rtt.timeoutMs(), 3000);
    rtt.sample(10);
    assert.equal(rtt.timeoutMs(), 500);
  });
});
