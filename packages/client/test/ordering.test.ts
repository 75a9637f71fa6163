import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { bytesToText, type Client, createClient, EtcdError, type KV, opGet } from "@etcd-connect/client";
import { namespace } from "@etcd-connect/namespace";
import { type EtcdCluster, integrationOptions, startCluster } from "@etcd-connect/testing";
import { createOrderedKV, type OrderViolation } from "../src/ordering/ordered-kv.js";
import { trapProcessErrors } from "./load.js";

// Serializable reads from one KV, in a loop until `enough` or the deadline: how many, how many
// answered at a revision older than one this loop had already been given, and how many ran out
// of time. Only the ordered KV's second read (linearizable) can do that: sent to the cut-off
// member, it waits for a leader that never answers, and etcd 3.4 gives up only after its request
// timeout (5 s plus two election timeouts); a deadline keeps the test short.
async function readLoop(
  kv: KV,
  key: string,
  deadline: number,
  enough: (backwards: number) => boolean,
): Promise<{ reads: number; backwards: number; timedOut: number; highest: bigint }> {
  let highest = 0n;
  let reads = 0;
  let backwards = 0;
  let timedOut = 0;
  while (Date.now() < deadline && !enough(backwards)) {
    try {
      const res = await kv.get(key, { serializable: true, timeoutMs: 2_000 });
      const revision = res.header?.revision ?? 0n;
      if (revision < highest) backwards++;
      if (revision > highest) highest = revision;
      reads++;
    } catch (error) {
      if (!EtcdError.is(error, "deadline_exceeded")) throw error;
      timedOut++;
    }
  }
  return { reads, backwards, timedOut, highest };
}

describe("ordered reads on a real 3-member cluster", integrationOptions(), () => {
  const trap = trapProcessErrors();
  let cluster: EtcdCluster;
  let client: Client;
  before(async () => {
    // An isolated member serves stale serializable reads until it gives up on its leader, after
    // an election timeout: 3 s (not the default 1 s) leaves room for the test on a busy machine.
    cluster = await startCluster({ size: 3, electionTimeoutMs: 3000 });
    client = createClient({ endpoints: cluster.clientUrls });
  });
  after(async () => {
    trap.dispose();
    await client?.close();
    await cluster?.close();
    assert.deepEqual(trap.errors, [], "no unhandled rejection or uncaught exception");
  });

  it("inside a namespace: keys stay relative, the floor follows writes, txns are ordered too", async () => {
    const tenant = createOrderedKV(namespace(client, "tenant/"));
    const put = await tenant.put("a", "1");
    assert.equal(tenant.revision, put.header?.revision);
    const res = await tenant.get("", { prefix: true, serializable: true });
    assert.deepEqual(
      res.kvs.map((kv) => `${bytesToText(kv.key)}=${bytesToText(kv.value)}`),
      ["a=1"],
    );
    assert.ok((res.header?.revision ?? 0n) >= (put.header?.revision ?? 0n));
    const txn = await tenant
      .txn()
      .then(opGet("a", { serializable: true }))
      .commit();
    const inner = txn.responses[0]?.response;
    assert.equal(
      inner?.case === "responseRange" && bytesToText(inner.value.kvs[0]?.key ?? new Uint8Array()),
      "a",
    );
    assert.ok(tenant.revision >= (txn.header?.revision ?? 0n));
  });

  it("honours the caller's signal", async () => {
    const ordered = createOrderedKV(client);
    await assert.rejects(
      ordered.get("a", { serializable: true, signal: AbortSignal.abort() }),
      (error: unknown) => EtcdError.is(error, "canceled"),
    );
  });

  it("a member cut off from its peers answers from the past; through the ordered KV no read goes back", async () => {
    const leader = await cluster.leader();
    const isolated = cluster.members.find((m) => m !== leader);
    assert.ok(isolated);
    const isolatedId = await isolated.memberId();
    const others = cluster.members.filter((m) => m !== isolated);
    await using writer = createClient({ endpoints: others.map((m) => m.clientUrl) });
    const tenant = namespace(client, "ord/");
    await writer.put("ord/k", "0");
    // Every member answers once, so the round robin below runs over connections already open.
    for (let i = 0; i < 6; i++) await tenant.get("k", { serializable: true });

    const violations: OrderViolation[] = [];
    const ordered = createOrderedKV(tenant, { onViolation: (v) => violations.push(v) });
    await cluster.isolate(isolated);
    let writing = true;
    const writes = (async () => {
      for (let i = 1; writing; i++) await writer.put("ord/k", String(i), { timeoutMs: 15_000 });
    })();
    const deadline = Date.now() + 15_000;
    // Both read in the same window: the ordered reader goes on until the plain one has gone back
    // 3 times and it has met a stale answer itself.
    let plainDone = false;
    const plainLoop = readLoop(tenant, "k", deadline, (backwards) => backwards >= 3).finally(() => {
      plainDone = true;
    });
    const orderedLoop = readLoop(ordered, "k", deadline, () => plainDone && violations.length > 0);
    const [plainResult, orderedResult] = await Promise.all([plainLoop, orderedLoop]);
    writing = false;
    await writes;
    console.log(
      `  figure: plain reads ${plainResult.backwards} of ${plainResult.reads} went back (${plainResult.timedOut} timed out); ordered reads ` +
        `${orderedResult.backwards} of ${orderedResult.reads} went back (${orderedResult.timedOut} timed out), ` +
        `${violations.length} stale answers read again ` +
        `(${violations.filter((v) => v.memberId === isolatedId).length} from the isolated member)`,
    );
    assert.ok(plainResult.backwards > 0, "the isolated member answered from the past (the setup works)");
    assert.ok(violations.length > 0, "the ordered KV met stale answers");
    // Mostly the isolated member; on a busy machine a healthy follower a few entries behind too.
    assert.ok(
      violations.every((v) => v.revision < v.floor),
      "each violation is an answer older than the floor",
    );
    assert.equal(orderedResult.backwards, 0, "no ordered read went back");
    assert.ok(ordered.revision >= orderedResult.highest);
    cluster.heal();
  });
});
