import assert from "node:assert/strict";
import { describe, it } from "node:test";
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

// Renewals sent from one wake of the engine arrive together; a new group starts after a gap.
function groups(times: number[], gapMs: number): number {
  let count = 0;
  let last = Number.NEGATIVE_INFINITY;
  for (const t of [...times].sort((a, b) => a - b)) {
    if (t - last > gapMs) count++;
    last = t;
  }
  return count;
}

describe("LeaseKeepAliveEngine", () => {
  it("sends renewals due close together in one batch instead of one wake per renewal", async () => {
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
    await new Promise((resolve) => setTimeout(resolve, 3500));
    engine.close();
    assert.deepEqual(lost, []);
    assert.ok(arrivals.length >= 400, `${arrivals.length} renewals of 200 leases in 3.5 s`);
    // A renewal may go out up to 300 ms (a tenth of the TTL) early, so batches are at least that
    // far apart: at most 3500 / 300 + 1 of them. One wake per renewal, or a 100 ms tick, would
    // make 35 or more. (A late timer only merges batches.)
    const batches = groups(arrivals, 50);
    assert.ok(batches <= 13, `${batches} batches for ${arrivals.length} renewals`);
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
