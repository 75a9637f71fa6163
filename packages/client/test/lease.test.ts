import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { after, before, describe, it } from "node:test";
import { type Client, createClient, EtcdError, EventType } from "@etcd-connect/client";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { waitFor } from "./load.js";

describe("leases against a real etcd", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  before(async () => {
    etcd = await startEtcd({ faults: true });
    client = createClient({ endpoints: [etcd.clientUrl] });
  });
  after(async () => {
    await client?.close();
    await etcd?.close();
  });

  it("grants, lists, reads the TTL with keys, renews once and revokes", async () => {
    const granted = await client.lease.grant(30);
    assert.equal(granted.TTL, 30n);
    await client.put("l1/k", "v", { lease: granted.ID });
    const ttl = await client.lease.timeToLive(granted.ID, { keys: true });
    assert.equal(ttl.grantedTTL, 30n);
    assert.ok(ttl.TTL > 0n && ttl.TTL <= 30n);
    assert.deepEqual(
      ttl.keys.map((k) => new TextDecoder().decode(k)),
      ["l1/k"],
    );
    const all = await client.lease.leases();
    assert.ok(all.leases.some((l) => l.ID === granted.ID));
    const renewed = await client.lease.keepAliveOnce(granted.ID);
    assert.equal(renewed.TTL, 30n);
    await client.lease.revoke(granted.ID);
    assert.equal(await client.exists("l1/k"), false);
    assert.equal((await client.lease.timeToLive(granted.ID)).TTL, -1n);
    await assert.rejects(client.lease.keepAliveOnce(granted.ID), (e: unknown) =>
      EtcdError.is(e, "lease_not_found"),
    );
  });

  it("grants with a chosen id; a duplicate id is refused", async () => {
    const id = 0x1234_5678n;
    const res = await client.lease.grant(10, { id });
    assert.equal(res.ID, id);
    await assert.rejects(client.lease.grant(10, { id }), (e: unknown) => EtcdError.is(e, "lease_exists"));
    await client.lease.revoke(id);
  });

  it("a grant with a chosen id and a revoke, answers lost after etcd applied them: the retry's refusal is indeterminate", async () => {
    const proxy = etcd.clientProxy;
    assert.ok(proxy);
    const direct = createClient({ endpoints: [etcd.directClientUrl] });
    // The proxy holds both directions for 1.5 s; once etcd (asked directly) shows the call
    // applied, its answer is still in the proxy, and a reset loses it. The retry then meets the
    // first attempt's own work.
    const answerLost = async (call: () => Promise<unknown>, applied: () => Promise<boolean>) => {
      await client.get("lease-lost-answer/warm");
      proxy.delay(1500);
      const failed = call().then(
        () => assert.fail("the retry should have been refused"),
        (error: unknown) => error,
      );
      try {
        await waitFor(applied, 30_000, "etcd to apply the call");
      } finally {
        proxy.reset();
        proxy.delay(0);
      }
      return failed;
    };
    try {
      const id = 0x5eed_0001n;
      const ttl = async () => (await direct.lease.timeToLive(id)).TTL;
      const granted = await answerLost(
        () => client.lease.grant(30, { id }),
        async () => (await ttl()) > 0n,
      );
      assert.ok(EtcdError.is(granted, "lease_exists"), String(granted));
      assert.equal(granted.indeterminate, true);
      assert.match(granted.message, /may have been applied/);
      const revoked = await answerLost(
        () => client.lease.revoke(id),
        async () => (await ttl()) === -1n,
      );
      assert.ok(EtcdError.is(revoked, "lease_not_found"), String(revoked));
      assert.equal(revoked.indeterminate, true);
      // A refusal with no earlier attempt behind it stays a plain refusal.
      const plain = await client.lease.revoke(id).catch((error: unknown) => error);
      assert.ok(EtcdError.is(plain, "lease_not_found"), String(plain));
      assert.equal(plain.indeterminate, false);
    } finally {
      proxy.heal();
      await direct.close();
    }
  });

  it("refuses a TTL below 1 and bad ids before sending", async () => {
    await assert.rejects(client.lease.grant(0), (e: unknown) => EtcdError.is(e, "invalid_argument"));
    await assert.rejects(client.lease.grant(-5), (e: unknown) => EtcdError.is(e, "invalid_argument"));
    await assert.rejects(client.lease.grant(1.5), (e: unknown) => EtcdError.is(e, "invalid_argument"));
    await assert.rejects(client.lease.revoke(0), (e: unknown) => EtcdError.is(e, "invalid_argument"));
    assert.throws(
      () => client.lease.keepAlive(-1),
      (e: unknown) => EtcdError.is(e, "invalid_argument"),
    );
  });

  it("keepAlive keeps a 2 s lease past its TTL and reports answers", async () => {
    const { ID } = await client.lease.grant(2);
    await client.put("l2/k", "v", { lease: ID });
    await using keeper = client.lease.keepAlive(ID);
    let answers = 0;
    const started = Date.now();
    for await (const res of keeper) {
      assert.equal(res.ID, ID);
      answers++;
      if (Date.now() - started > 4000) break;
    }
    assert.ok(answers >= 3);
    assert.equal(await client.exists("l2/k"), true);
  });

  it("a keeper nobody reads holds only the latest answer", async () => {
    // TTL 1 s: a keepalive every third of a second; several are answered while nobody reads.
    let answered = 0;
    let onAnswer = () => {};
    const counted = createClient({
      endpoints: [etcd.clientUrl],
      observer: {
        onKeepAliveRoundTrip: () => {
          answered++;
          onAnswer();
        },
      },
    });
    after(() => counted.close());
    const { ID } = await counted.lease.grant(1);
    await using keeper = counted.lease.keepAlive(ID);
    await new Promise<void>((resolve) => {
      onAnswer = () => {
        if (answered >= 4) resolve();
      };
    });
    const it = keeper[Symbol.asyncIterator]();
    const latest = await it.next();
    assert.equal(latest.done, false);
    // A second answer would be queued already; the next one must still be on its way.
    const pending = Symbol("pending");
    const nextAnswer = it.next();
    const second = await Promise.race([nextAnswer, new Promise((r) => setImmediate(() => r(pending)))]);
    assert.equal(second, pending);
    // The answer read late is kept as its parts and rebuilt: it must equal, field for field, one
    // read as it arrives, but for the revision, which an earlier test's expiring lease may move.
    const arrived = await nextAnswer;
    assert.equal(arrived.done, false);
    assert.equal(latest.value.ID, ID);
    const lateRevision = latest.value.header?.revision ?? 0n;
    const arrivedRevision = arrived.value.header?.revision ?? 0n;
    assert.ok(lateRevision > 0n && lateRevision <= arrivedRevision);
    const sansRevision = (answer: typeof latest.value) => ({
      ...answer,
      header: answer.header === undefined ? undefined : { ...answer.header, revision: 0n },
    });
    assert.deepEqual(sansRevision(latest.value), sansRevision(arrived.value));
  });

  it("lost settles with lease_not_found when the lease is revoked elsewhere", async () => {
    await using other = createClient({ endpoints: [etcd.directClientUrl] });
    const { ID } = await client.lease.grant(5);
    const keeper = client.lease.keepAlive(ID);
    await other.lease.revoke(ID);
    const reason = await keeper.lost;
    assert.equal(reason.reason, "lease_not_found");
  });

  it("black-holed link: lost settles before the server deletes the key, 50 of 50", async () => {
    await using observer = createClient({ endpoints: [etcd.directClientUrl] });
    const deletedAt = new Map<string, number>();
    const watcher = observer.watch("bh/", { prefix: true, noPut: true });
    await watcher.ready;
    const watching = (async () => {
      for await (const batch of watcher) {
        for (const e of batch.events) {
          if (e.type === EventType.DELETE) deletedAt.set(new TextDecoder().decode(e.kv?.key), Date.now());
        }
        if (deletedAt.size >= 50) break;
      }
    })();
    const lostAt = new Map<string, number>();
    const keepers = [];
    for (let i = 0; i < 50; i++) {
      const { ID } = await client.lease.grant(3);
      await client.put(`bh/${i}`, "v", { lease: ID });
      const keeper = client.lease.keepAlive(ID);
      void keeper.lost.then(() => lostAt.set(`bh/${i}`, Date.now()));
      keepers.push(keeper);
    }
    etcd.clientProxy?.blackhole();
    try {
      await watching;
      await waitFor(() => lostAt.size === 50, 10_000, "every lost");
    } finally {
      etcd.clientProxy?.heal();
    }
    let before = 0;
    let margin = Number.POSITIVE_INFINITY;
    for (const [key, at] of deletedAt) {
      const lost = lostAt.get(key) ?? Number.POSITIVE_INFINITY;
      if (lost < at) before++;
      margin = Math.min(margin, at - lost);
    }
    console.log(
      `  figure: ${before} of 50 lost before the server deleted the key; smallest margin ${margin} ms`,
    );
    assert.equal(before, 50);
  });
});

describe("revoking a kept lease through the same client", integrationOptions(), () => {
  it("settles the keeper's lost with lease_not_found", async () => {
    await using etcd = await startEtcd();
    await using client = createClient({ endpoints: [etcd.clientUrl] });
    const { ID } = await client.lease.grant(30);
    const keeper = client.lease.keepAlive(ID);
    await client.lease.revoke(ID);
    assert.equal((await keeper.lost).reason, "lease_not_found");
  });

  it("a keeper that ends with an answer unread hands it out, then the reason once, then done", async () => {
    await using etcd = await startEtcd();
    let onAnswer = () => {};
    await using client = createClient({
      endpoints: [etcd.clientUrl],
      observer: { onKeepAliveRoundTrip: () => onAnswer() },
    });
    await using granter = createClient({ endpoints: [etcd.clientUrl] });
    // Granted elsewhere: this client knows nothing of the lease, so it renews it at once.
    const { ID } = await granter.lease.grant(30);
    const answered = new Promise<void>((resolve) => {
      onAnswer = resolve;
    });
    const keeper = client.lease.keepAlive(ID);
    await answered;
    await client.lease.revoke(ID);
    assert.equal((await keeper.lost).reason, "lease_not_found");
    const it = keeper[Symbol.asyncIterator]();
    const unread = await it.next();
    assert.equal(unread.done, false);
    assert.equal(unread.value?.ID, ID);
    assert.ok((unread.value?.TTL ?? 0n) > 0n);
    await assert.rejects(it.next(), (error: unknown) => {
      assert.ok(error instanceof EtcdError);
      assert.equal(error.reason, "lease_not_found");
      return true;
    });
    assert.deepEqual(await it.next(), { done: true, value: undefined });
  });

  it("a keeper or watch with a long-lived signal leaves no listener on it once it ends", async () => {
    await using etcd = await startEtcd();
    await using client = createClient({ endpoints: [etcd.clientUrl] });
    const abort = new AbortController();
    for (let i = 0; i < 20; i++) {
      const watcher = client.watch(`sig/${i}`, { signal: abort.signal });
      await watcher.ready;
      await watcher.close();
      const { ID } = await client.lease.grant(30);
      const keeper = client.lease.keepAlive(ID, { signal: abort.signal });
      await keeper.close();
    }
    assert.equal(EventEmitter.getEventListeners(abort.signal, "abort").length, 0);
  });
});
