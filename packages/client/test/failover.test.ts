import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { type Client, createClient, EtcdError } from "@etcd-connect/client";
import { type EtcdCluster, type EtcdMember, integrationOptions } from "@etcd-connect/testing";
import { missingKeys, runLoad, useFaultCluster, waitFor } from "./load.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function memberWithId(cluster: EtcdCluster, id: bigint): Promise<EtcdMember> {
  for (const member of cluster.members) if ((await member.memberId()) === id) return member;
  throw new Error(`no member with id ${id}`);
}

describe("failover on a real 3-member cluster", integrationOptions(), () => {
  let client: Client;
  const suite = useFaultCluster(() => client?.close());
  const { trap } = suite;
  let cluster: EtcdCluster;
  before(() => {
    cluster = suite.cluster;
  });

  // Reads answer elsewhere within the bound; writes in flight on the paused member wait for their
  // deadline (they may have been applied), so the readers are what shows the failover.
  it("1. SIGSTOP of the member in use: another member answers while it is paused, no acked write lost", async () => {
    client = createClient({ endpoints: cluster.clientUrls, balancer: "pinned" });
    const warm = await client.put("f1/warm", "v");
    const inUse = await memberWithId(cluster, warm.header?.memberId ?? 0n);
    let pausedAt = 0;
    let resumedAt = 0;
    const pause = (async () => {
      await sleep(500);
      pausedAt = Date.now();
      await inUse.pause();
      await sleep(3000);
      resumedAt = Date.now();
    })();
    const load = await runLoad(client, {
      workers: 8,
      readers: 2,
      prefix: "f1/",
      timeoutMs: 5000,
      minAcked: 3000,
      until: pause,
    });
    inUse.resume();
    const pausedId = await inUse.memberId();
    const firstElsewhere = load.answers.find((a) => a.at > pausedAt && a.memberId !== pausedId);
    assert.ok(firstElsewhere, "some call succeeded on another member");
    const failoverMs = firstElsewhere.at - pausedAt;
    const missing = await missingKeys(client, "f1/", load.acked);
    console.log(
      `  figure: failover ${failoverMs} ms; ${load.acked.length} acked writes, ${missing.length} lost; ` +
        `${load.failedWrites.length} writes failed (all indeterminate: ${load.failedWrites.every((f) => f.error.indeterminate)}); ` +
        `max deadline overrun ${Math.max(0, ...load.overruns)} ms`,
    );
    // While paused, not within a wall-clock bound: on a loaded machine the pause lasts longer too.
    assert.ok(firstElsewhere.at < resumedAt, `failover took ${failoverMs} ms, past the 3 s pause`);
    assert.ok(Math.max(0, ...load.overruns) <= 500, "no call outlived its deadline by more than 0.5 s");
    assert.equal(missing.length, 0);
    assert.ok(load.acked.length >= 3000);
  });

  it("2. SIGKILL and restart of the leader: reads go on, writes fail only as indeterminate or unavailable, none applied twice", async () => {
    client = createClient({ endpoints: cluster.clientUrls });
    const leader = await cluster.leader();
    const chaos = (async () => {
      await sleep(300);
      await leader.kill();
      await sleep(1500);
      await leader.restart();
      await sleep(500);
    })();
    const load = await runLoad(client, {
      workers: 8,
      prefix: "f2/",
      timeoutMs: 5000,
      minAcked: 2000,
      until: chaos,
    });
    const badWrites = load.failedWrites.filter(
      (f) => !f.error.indeterminate && f.error.reason !== "unavailable",
    );
    const versions = new Map<string, bigint>();
    for await (const page of client.getAll("f2/")) {
      for (const kv of page.kvs) versions.set(new TextDecoder().decode(kv.key), kv.version);
    }
    const twice = [...versions.values()].filter((v) => v > 1n).length;
    // A failure that is not indeterminate promises the write was not applied.
    const appliedAnyway = load.failedWrites.filter((f) => !f.error.indeterminate && versions.has(f.key));
    console.log(
      `  figure: ${load.acked.length} acked, ${load.failedWrites.length} failed writes, ${load.failedReads.length} failed reads, ` +
        `${twice} applied twice, ${appliedAnyway.length} reported failed but applied`,
    );
    assert.deepEqual(
      load.failedReads.map((e) => e.message),
      [],
    );
    assert.deepEqual(
      badWrites.map((f) => f.error.message),
      [],
    );
    assert.equal(twice, 0);
    assert.deepEqual(
      appliedAnyway.map((f) => f.key),
      [],
    );
    assert.deepEqual(await missingKeys(client, "f2/", load.acked), []);
  });

  it("3. a black-holed client link costs one attempt: calls move on within the per-attempt bound", async () => {
    client = createClient({ endpoints: cluster.clientUrls, balancer: "pinned", silenceProbeMs: 500 });
    const warm = await client.put("f3/warm", "v");
    const inUse = await memberWithId(cluster, warm.header?.memberId ?? 0n);
    const proxy = inUse.clientProxy;
    assert.ok(proxy);
    proxy.blackhole();
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      const start = Date.now();
      const res = await client.get("f3/warm", { timeoutMs: 5000 });
      latencies.push(Date.now() - start);
      assert.notEqual(res.header?.memberId, await inUse.memberId());
    }
    console.log(
      `  figure: first call after black hole ${latencies[0]} ms, then max ${Math.max(...latencies.slice(1))} ms`,
    );
    assert.ok((latencies[0] ?? 0) < 2500, `first call took ${latencies[0]} ms`);
    assert.ok(Math.max(...latencies.slice(1)) < 500);
  });

  it("4. an isolated member: requireLeader moves calls off it; linearizable reads never go back in time", async () => {
    client = createClient({ endpoints: cluster.clientUrls });
    const leader = await cluster.leader();
    const follower = cluster.members.find((m) => m !== leader);
    assert.ok(follower);
    const followerId = await follower.memberId();
    await cluster.isolate(follower);
    const isolatedAt = Date.now();
    let maxSeen = 0n;
    let lastOnIsolated = 0;
    let backwards = 0;
    // Writes that reached the isolated member before it noticed hang until their deadline:
    // the member cannot commit them. They fail as indeterminate; the test counts them.
    let writeFailures = 0;
    const writer = (async () => {
      for (let i = 0; Date.now() - isolatedAt < 4000; i++) {
        await client.put(`f4/${i}`, "v", { timeoutMs: 3000 }).catch((e: unknown) => {
          assert.ok(e instanceof EtcdError && e.indeterminate, String(e));
          writeFailures++;
        });
      }
    })();
    let readFailures = 0;
    while (Date.now() - isolatedAt < 4000) {
      const floor = maxSeen;
      try {
        const res = await client.get("f4/", { prefix: true, countOnly: true, timeoutMs: 3000 });
        const rev = res.header?.revision ?? 0n;
        if (rev < floor) backwards++;
        if (rev > maxSeen) maxSeen = rev;
        if (res.header?.memberId === followerId) lastOnIsolated = Date.now();
      } catch (e) {
        assert.ok(e instanceof EtcdError, String(e));
        readFailures++;
      }
    }
    await writer;
    console.log(
      `  figure: ${writeFailures} writes and ${readFailures} reads failed while the member was isolated`,
    );
    // The member notices it lost its leader after an election timeout (1 s in these clusters).
    const usedFor = lastOnIsolated === 0 ? 0 : lastOnIsolated - isolatedAt;
    console.log(
      `  figure: isolated member last answered ${usedFor} ms after isolation; ${backwards} reads went back`,
    );
    assert.equal(backwards, 0);
    assert.ok(usedFor < 2000, `the isolated member answered ${usedFor} ms after isolation`);
  });

  it("5. at-most-once under connection resets every 10 ms: no write applied twice, failures honest", async () => {
    client = createClient({ endpoints: cluster.clientUrls });
    const proxies = cluster.members.map((m) => m.clientProxy).filter((p) => p !== undefined);
    let resetting = true;
    const resetter = (async () => {
      while (resetting) {
        for (const p of proxies) p.reset();
        await sleep(10);
      }
    })();
    const failures: Array<{ key: string; error: EtcdError }> = [];
    let acked = 0;
    // Bounded by time, not by a count: under resets most writes wait out their deadline, so a
    // count would make the test's length depend on how the resets fall. 10 s, longer only until
    // a few writes got through (a loaded machine gets fewer through the resets), at most 30 s.
    // Writes that failed and were applied anyway count too: every key in the store is checked.
    const started = Date.now();
    const more = () => Date.now() - started < 10_000 || (acked < 3 && Date.now() - started < 30_000);
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        for (let n = w; more(); n += 8) {
          const key = `f5/${n}`;
          try {
            await client.put(key, `unique-${n}`, { timeoutMs: 3000 });
            acked++;
          } catch (error) {
            assert.ok(error instanceof EtcdError, String(error));
            failures.push({ key, error });
          }
        }
      }),
    );
    resetting = false;
    await resetter;
    console.log(`  figure: writes ran for ${Date.now() - started} ms under resets`);
    const versions = new Map<string, bigint>();
    for await (const page of client.getAll("f5/")) {
      for (const kv of page.kvs) versions.set(new TextDecoder().decode(kv.key), kv.version);
    }
    const twice = [...versions.values()].filter((v) => v > 1n).length;
    const dishonest = failures.filter((f) => !f.error.indeterminate && versions.has(f.key));
    console.log(
      `  figure: ${acked} acked, ${failures.length} failed (${failures.filter((f) => f.error.indeterminate).length} indeterminate), ${twice} applied twice`,
    );
    assert.equal(twice, 0);
    assert.deepEqual(
      dishonest.map((f) => `${f.key}: ${f.error.message}`),
      [],
    );
    assert.ok(acked > 0);
  });

  it("6. all endpoints down, then one back: waiting calls succeed within their deadline", async () => {
    client = createClient({ endpoints: cluster.clientUrls, dialTimeoutMs: 500 });
    await client.put("f6/k", "v");
    for (const p of cluster.members) p.clientProxy?.blackhole();
    for (const p of cluster.members) p.clientProxy?.reset();
    const started = Date.now();
    const waiting = Array.from({ length: 5 }, () =>
      client.get("f6/k", { timeoutMs: 8000 }).then(
        () => Date.now() - started,
        (e: unknown) => e,
      ),
    );
    const short = client.get("f6/k", { timeoutMs: 700 }).then(
      () => "succeeded",
      (e: unknown) => ({ error: e }),
    );
    await sleep(1500);
    cluster.members[0]?.clientProxy?.heal();
    const results = await Promise.all(waiting);
    const shortResult = await short;
    console.log(`  figure: waiting calls finished after ${results.join(", ")} ms`);
    // Answered, so within their deadline: no clock needed to tell.
    for (const r of results) assert.equal(typeof r, "number", String(r));
    // Its own deadline ended it, not the others' (8 s) nor the heal: the reason says which, where
    // a clock would read a loaded machine as a late end.
    assert.notEqual(shortResult, "succeeded");
    assert.ok(
      typeof shortResult === "object" && EtcdError.is(shortResult.error, "deadline_exceeded"),
      `the short call ended by its deadline: ${typeof shortResult === "object" ? String(shortResult.error) : shortResult}`,
    );
  });

  it("8. a request started in the tick after a PING timeout does not crash the process", async () => {
    const ejected: string[] = [];
    let inner: Promise<unknown> | undefined;
    client = createClient({
      endpoints: [cluster.members[0]?.clientUrl ?? ""],
      keepAliveTimeMs: 5000,
      keepAliveTimeoutMs: 200,
      permitWithoutStream: true,
      logger: {
        warn(message) {
          ejected.push(message);
          // Same tick as the ping timeout that ejected the endpoint.
          inner ??= client.get("f8/k", { timeoutMs: 3000 }).catch((e: unknown) => e);
        },
      },
    });
    await client.put("f8/k", "v");
    cluster.members[0]?.clientProxy?.blackhole();
    await waitFor(() => ejected.length > 0, 15_000, "the ping timeout");
    cluster.members[0]?.clientProxy?.heal();
    const outcome = await inner;
    assert.ok(outcome === undefined || outcome instanceof EtcdError || typeof outcome === "object");
    await sleep(100);
    assert.deepEqual(trap.errors, []);
    assert.equal(await client.getText("f8/k", { timeoutMs: 5000 }), "v");
  });
});
