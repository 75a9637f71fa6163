// Issue 16 §3: a burst of 10,000 grants kept alive at once keeps every lease, and the
// keepalives are spread over the TTL rather than sent in one burst. The spread is printed as a
// figure here: on a loaded machine a late wake clumps renewals, so the wall clock cannot prove
// it. lease-keeper.test.ts proves it on the test's own clock (batches of at most 1,000 early
// renewals, soonest due first).

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Interceptor } from "@connectrpc/connect";
import { type Client, createClient } from "@etcd-connect/client";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("a burst of 10,000 kept leases", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  // When each keepalive request went out, as a user interceptor sees the stream.
  const sent: number[] = [];
  const countKeepAlives: Interceptor = (next) => async (req) => {
    if (!req.stream || req.method.name !== "LeaseKeepAlive") return next(req);
    const input = req.message;
    async function* counted() {
      for await (const message of input) {
        sent.push(Date.now());
        yield message;
      }
    }
    return next({ ...req, message: counted() });
  };
  before(async () => {
    etcd = await startEtcd();
    client = createClient({ endpoints: [etcd.clientUrl], interceptors: [countKeepAlives] });
  });
  after(async () => {
    await client?.close();
    await etcd?.close();
  });

  it("keeps every lease past its TTL, the spread of the first renewals a figure", async () => {
    const ttl = 10;
    const lost: string[] = [];
    const grants = await Promise.all(Array.from({ length: 10_000 }, () => client.lease.grant(ttl)));
    const grantedAt = Date.now();
    const keepers = grants.map(({ ID }) => {
      const keeper = client.lease.keepAlive(ID);
      void keeper.lost.then((e) => lost.push(e.message));
      return keeper;
    });
    // Past the TTL: every lease needed renewing at least twice.
    await sleep(ttl * 1000 + 2000);
    // The first round of renewals: the 10,000 requests sent first.
    const first = sent.slice(0, 10_000).map((t) => t - grantedAt);
    const windows = new Map<number, number>();
    for (const t of first) windows.set(Math.floor(t / 250), (windows.get(Math.floor(t / 250)) ?? 0) + 1);
    const busiest = Math.max(...windows.values());
    const span = (first.at(-1) ?? 0) - (first[0] ?? 0);
    const alive = await client.lease.leases();
    console.log(
      `  figure: 10,000 leases, first renewals over ${span} ms, at most ${busiest} in any 250 ms; ` +
        `${alive.leases.length} alive after ${ttl + 2} s, ${lost.length} lost`,
    );
    assert.deepEqual(lost.slice(0, 3), []);
    const ids = new Set(alive.leases.map((l) => l.ID));
    assert.equal(grants.filter((g) => !ids.has(g.ID)).length, 0, "every granted lease is alive");
    assert.equal(first.length, 10_000);
    for (const k of keepers) await k.close();
  });
});
