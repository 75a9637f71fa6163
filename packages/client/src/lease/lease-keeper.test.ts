import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { create } from "@bufbuild/protobuf";
import type { Client as ConnectClient } from "@connectrpc/connect";
import {
  type LeaseKeepAliveRequest,
  LeaseKeepAliveResponseSchema,
  type Lease as LeaseService,
} from "@etcd-connect/api/etcdserverpb";
import { LeaseKeepAliveEngine } from "./lease-keeper.js";

// A member that answers every keepalive at once with `ttlSeconds`, or never when undefined,
// recording when each arrived. Pure client logic: how the engine schedules renewals, which no
// real member could show more plainly.
function fakeMember(ttlSeconds: bigint | undefined) {
  const arrivals: number[] = [];
  const streams = { opened: 0 };
  const rpc = {
    async *leaseKeepAlive(requests: AsyncIterable<LeaseKeepAliveRequest>) {
      streams.opened++;
      for await (const request of requests) {
        arrivals.push(Date.now());
        if (ttlSeconds !== undefined)
          yield create(LeaseKeepAliveResponseSchema, { ID: request.ID, TTL: ttlSeconds });
      }
    },
  } as unknown as ConnectClient<typeof LeaseService>;
  return { rpc, arrivals, streams };
}

// Moves the test's clock (mock timers over setTimeout and Date) 1 ms at a time. After each step
// a real setImmediate lets the sends and the fake member's answers settle before it moves on: no
// timer runs late, however loaded the machine.
async function advance(t: TestContext, ms: number): Promise<void> {
  for (let i = 0; i < ms; i++) {
    t.mock.timers.tick(1);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

// One lease not granted here (so renewed at once), kept for `ms` of the test's clock against a
// member that answers with `ttlSeconds`: how many renewals arrived and the gaps between them. The
// test's clock: a late wake would only widen the gaps, but could leave too few renewals.
async function renewalsOfOneLease(
  t: TestContext,
  ttlSeconds: bigint,
  responseTimeoutMs: number,
  ms: number,
): Promise<{ renewals: number; gaps: number[] }> {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: Date.now() });
  const { rpc, arrivals } = fakeMember(ttlSeconds);
  const engine = new LeaseKeepAliveEngine(rpc, { responseTimeoutMs });
  const keeper = engine.keep(1n, undefined);
  await advance(t, ms);
  engine.close();
  await keeper.close();
  return { renewals: arrivals.length, gaps: arrivals.slice(1).map((at, i) => at - (arrivals[i] as number)) };
}

// `count` leases granted at once at TTL 10 s, kept for `ms` of the test's clock against a member
// that answers at once: the renewals sent at each instant from `from` ms on (the test's clock: a
// batch is every renewal sent at one instant; on a loaded machine a late wake finds more
// renewals due, and batches told apart by arrival gaps merge).
async function batchesOfBurst(
  t: TestContext,
  count: number,
  ms: number,
  from = 0,
): Promise<Map<number, number>> {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: Date.now() });
  const { rpc, arrivals } = fakeMember(10n);
  const engine = new LeaseKeepAliveEngine(rpc, { responseTimeoutMs: 1000 });
  const start = Date.now();
  // First renewals fall anywhere in the first 3.33 s, then one every 3.33 s.
  for (let i = 0; i < count; i++) engine.keep(BigInt(i + 1), { sentAt: start, ttlMs: 10_000 });
  await advance(t, ms);
  engine.close();
  const sizes = new Map<number, number>();
  for (const at of arrivals) if (at >= start + from) sizes.set(at, (sizes.get(at) ?? 0) + 1);
  return sizes;
}

describe("LeaseKeepAliveEngine", () => {
  it("sends renewals due close together in one batch instead of one wake per renewal", async (t) => {
    // The test's clock: a batch is every renewal sent at one instant.
    t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: Date.now() });
    const { rpc, arrivals } = fakeMember(3n);
    const engine = new LeaseKeepAliveEngine(rpc, { responseTimeoutMs: 1000 });
    const now = Date.now();
    // 200 leases granted just now at TTL 3: first renewals fall anywhere in the first second.
    const keepers = Array.from({ length: 200 }, (_, i) =>
      engine.keep(BigInt(i + 1), { sentAt: now, ttlMs: 3000 }),
    );
    const lost: string[] = [];
    for (const k of keepers) void k.lost.then((e) => lost.push(e.reason));
    // Three renewal periods: every lease renewed at least twice.
    await advance(t, 3500);
    engine.close();
    assert.deepEqual(lost, []);
    assert.ok(arrivals.length >= 400, `${arrivals.length} renewals of 200 leases in 3.5 s`);
    // A renewal may go out up to 500 ms (a sixth of the TTL) early, so batches are at least that
    // far apart: at most 3500 / 500 + 1 of them. One wake per renewal, or a 100 ms tick, would
    // make 35 or more.
    const batches = new Set(arrivals).size;
    assert.ok(batches <= 8, `${batches} batches for ${arrivals.length} renewals`);
  });

  it("sends a burst's renewals in batches of at most 1,000, soonest due first", async (t) => {
    // 6,000 first renewals in the first 3.33 s, 1,800 a second; a wake sends those due within a
    // sixth of the TTL (1.67 s) with the due ones, so without a cap a batch would hold 3,000. Up
    // to 3.3 s: the second renewals are not due yet, and only the earliest can go early.
    const sizes = await batchesOfBurst(t, 6000, 3300);
    const batches = [...sizes.values()];
    const renewals = batches.reduce((a, b) => a + b, 0);
    assert.ok(renewals >= 6000, `${renewals} renewals of 6,000 leases`);
    // 1,000 counting the due ones, plus the few that fell due in the millisecond the timer waited for.
    assert.ok(Math.max(...batches) <= 1010, `batches of ${batches.join(", ")}`);
    // Soonest due first: a batch takes the next 1,000 due (about 550 ms of them), so the next
    // wake is that far off. Any other 1,000 would leave renewals due at once.
    const times = [...sizes.keys()];
    for (let i = 1; i < times.length; i++) {
      const gap = (times[i] as number) - (times[i - 1] as number);
      assert.ok(gap >= 300, `a batch ${gap} ms after the one before (batches of ${batches.join(", ")})`);
    }
  });

  it("merges the batches of leases of one TTL into one a renewal period", async (t) => {
    // The last renewal period: every lease renewed once, all at one instant. With early renewals
    // capped at 1 s, 1,000 leases stayed in two batches a period.
    const sizes = await batchesOfBurst(t, 1000, 12_000, 12_000 - 10_000 / 3);
    assert.deepEqual([...sizes.values()], [1000]);
  });

  it("stops merging batches at the batch's room", async (t) => {
    // 3,000 leases: a batch holds 1,000 counting the due ones (plus the few that fell due in the
    // millisecond the timer waited for). Counting the early ones alone against the room let
    // batches grow to 1,000 early plus the due.
    const batches = [...(await batchesOfBurst(t, 3000, 12_000, 12_000 - 10_000 / 3)).values()];
    assert.ok(Math.max(...batches) <= 1010, `batches of ${batches.join(", ")}`);
    const renewals = batches.reduce((a, b) => a + b, 0);
    assert.ok(renewals >= 3000, `${batches.join(" + ")} renewals in the last period`);
  });

  it("renews when due once every renewal is answered, not when a check for late answers would have woken", async (t) => {
    // Renewed at once, then every 4 / 3 s. A check for the answer was due 1 s after each
    // renewal; one that woke would have sent the next renewal with it, early (it is due within a
    // sixth of the TTL), every 1 s instead of every 1.33 s.
    const { renewals, gaps } = await renewalsOfOneLease(t, 4n, 1000, 4100);
    assert.equal(renewals, 4, `${renewals} renewals in 4.1 s`);
    for (const gap of gaps) assert.ok(gap >= 1333, `renewed ${gap} ms after the one before`);
  });

  it("sends a renewal due just after a cleared check with the wake Node makes for that check", async (t) => {
    // Answers are checked 960 ms after each renewal; the next is due 1,000 ms after it. Node
    // wakes the process at 960 ms for the cleared check whatever the engine does, so the renewal
    // goes then, 40 ms early, instead of in a wake of its own.
    const { renewals, gaps } = await renewalsOfOneLease(t, 3n, 960, 3000);
    assert.ok(renewals >= 3, `${renewals} renewals in 3 s`);
    // 960 (959 after the first, whose start falls inside a millisecond); 1,000 in a wake of its own.
    for (const gap of gaps) assert.ok(gap >= 950 && gap <= 960, `renewed ${gap} ms after the one before`);
  });

  it("settles lost for a lease whose renewals go unanswered", async () => {
    const { rpc } = fakeMember(undefined);
    const engine = new LeaseKeepAliveEngine(rpc, { responseTimeoutMs: 1000 });
    const keeper = engine.keep(1n, { sentAt: Date.now(), ttlMs: 1500 });
    // The engine's timer does not hold the process open (a client's connection does): this one does.
    const hold = setInterval(() => {}, 1000);
    // Settled by the timer set for the deadline: with nothing else to wake the engine, a
    // schedule that missed it would leave this pending.
    const error = await keeper.lost.finally(() => clearInterval(hold));
    engine.close();
    assert.equal(error.reason, "lease_expired");
  });

  it("settles lost for every keeper of a lease, whether read before the loss or after", async () => {
    const { rpc } = fakeMember(undefined);
    const engine = new LeaseKeepAliveEngine(rpc, { responseTimeoutMs: 1000 });
    const early = engine.keep(1n, undefined);
    const late = engine.keep(1n, undefined);
    const earlyLost = early.lost;
    // Revoked through this client: both keepers lose the lease.
    engine.revoked(1n);
    engine.close();
    assert.equal((await earlyLost).reason, "lease_not_found");
    assert.equal((await late.lost).reason, "lease_not_found");
    assert.equal(late.lost, late.lost);
    // Kept after the engine closed: lost is settled from the start.
    const closed = engine.keep(2n, undefined);
    assert.equal((await closed.lost).reason, "closed");
  });

  it("moves off a stream whose first keepalive goes unanswered, for a lease it did not grant", async () => {
    const { rpc, streams } = fakeMember(undefined);
    const engine = new LeaseKeepAliveEngine(rpc, { responseTimeoutMs: 200 });
    // Sent at once (nothing is known of the lease); only a timer set by the send can notice
    // that no answer came.
    engine.keep(7n, undefined);
    const hold = setInterval(() => {}, 1000);
    try {
      // Bounded: without the timer nothing would ever move (the old engine moved only on a tick).
      for (let i = 0; i < 200 && streams.opened < 2; i++)
        await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      clearInterval(hold);
      engine.close();
    }
    assert.ok(streams.opened >= 2);
  });
});
