import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PingBudget } from "./ping-budget.js";

// gRPC-Go's server side, as etcd runs it: at most two strikes, 5 s apart; the flag that server
// writes set is cleared by the next ping. Used to check the budget against what a server counts.
class GrpcGoServer {
  strikes = 0;
  lastPingAt = Number.NEGATIVE_INFINITY;
  wrote = false;
  closed = false;
  ping(now: number, openStreams: number): void {
    if (this.wrote) {
      this.wrote = false;
      this.strikes = 0;
    } else if (openStreams === 0 || now - this.lastPingAt < 5000) {
      this.strikes++;
    }
    this.lastPingAt = now;
    if (this.strikes > 2) this.closed = true;
  }
}

const policy = { minTimeMs: 5000, maxStrikes: 2 };

describe("PingBudget", () => {
  it("allows any ping without a policy", () => {
    const budget = new PingBudget(undefined);
    for (let i = 0; i < 10; i++) {
      assert.ok(budget.allows(i, 0, 0));
      budget.sent(i, 0, 0);
    }
  });

  it("a ping after the server wrote to us (since the last ACK) is free, however soon", () => {
    const budget = new PingBudget(policy);
    const server = new GrpcGoServer();
    let writes = 0;
    for (let now = 0; now < 10_000; now += 100) {
      writes++;
      server.wrote = true;
      assert.ok(budget.free(now, writes, 1));
      budget.sent(now, writes, 1);
      server.ping(now, 1);
      budget.acked(writes);
    }
    assert.equal(server.closed, false);
  });

  it("answers read before the ACK do not count: the server took the ping after writing them", () => {
    const budget = new PingBudget(policy);
    budget.sent(0, 0, 1);
    budget.acked(3);
    assert.equal(budget.free(100, 3, 1), false);
    assert.equal(budget.free(100, 4, 1), true);
  });

  it("never lets the server count past its strikes, keeping one in reserve", () => {
    const budget = new PingBudget(policy);
    const server = new GrpcGoServer();
    let sent = 0;
    for (let now = 0; now < 60_000; now += 50) {
      if (!budget.allows(now, 0, 1)) continue;
      budget.sent(now, 0, 1);
      server.ping(now, 1);
      budget.acked(0);
      sent++;
    }
    assert.equal(server.closed, false);
    assert.ok(server.strikes <= 1);
    // Once the reserve is spent, pings come every 6 s: the minimum plus the margin.
    assert.ok(sent >= 10 && sent <= 12, `${sent} pings in a minute`);
  });

  it("without open streams every ping is a strike unless the server wrote", () => {
    const budget = new PingBudget(policy);
    assert.ok(budget.allows(0, 0, 0));
    budget.sent(0, 0, 0);
    budget.acked(0);
    assert.equal(budget.allows(60_000, 0, 0), false);
    assert.ok(budget.allows(60_000, 1, 0));
  });
});
