import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  bytesToText,
  type Client,
  createClient,
  type ElectionService,
  EtcdError,
  type LockService,
} from "@etcd-connect/client";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { waitFor } from "./load.js";

async function failure(promise: Promise<unknown>): Promise<EtcdError> {
  return promise.then(
    () => assert.fail("expected a failure"),
    (error: unknown) => {
      assert.ok(error instanceof EtcdError, `not an EtcdError: ${String(error)}`);
      return error;
    },
  );
}

// Go's concurrency key of a lease under a lock or election name.
const goKey = (name: string, lease: bigint) => `${name}/${lease.toString(16)}`;

describe("etcd's lock and election services", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  let locks: LockService;
  let elections: ElectionService;
  before(async () => {
    etcd = await startEtcd();
    client = createClient({ endpoints: [etcd.clientUrl] });
    locks = client.lockService;
    elections = client.electionService;
  });
  after(async () => {
    await client?.close();
    await etcd?.close();
  });

  const lease = async (ttl = 30) => (await client.lease.grant(ttl)).ID;
  // The keys under `name/`, oldest first: the holder, then the waiters in turn.
  const queue = async (name: string) => {
    const res = await client.get(`${name}/`, { prefix: true, sortTarget: "create", sortOrder: "ascend" });
    return res.kvs.map((kv) => bytesToText(kv.key));
  };

  it("lock: the key is <name>/<lease in hex>; locking again under the same lease returns it at once", async () => {
    const id = await lease();
    const held = await locks.lock("lock/same", { lease: id });
    assert.equal(bytesToText(held.key), goKey("lock/same", id));
    const again = await locks.lock("lock/same", { lease: id });
    assert.deepEqual(again.key, held.key);
    const kv = (await client.get(held.key)).kvs[0];
    assert.equal(kv?.lease, id);
    await locks.unlock(held.key);
    assert.deepEqual(await queue("lock/same"), []);
  });

  it("lock serialises two holders: the second is granted only after the first unlocks", async () => {
    const [first, second] = [await lease(), await lease()];
    const events: string[] = [];
    const held = await locks.lock("lock/serial", { lease: first });
    events.push("first holds");
    const waiting = locks.lock("lock/serial", { lease: second }).then((res) => {
      events.push("second holds");
      return res;
    });
    await waitFor(async () => (await queue("lock/serial")).length === 2, 10_000, "the second waiter's key");
    events.push("first unlocks");
    const unlocked = await locks.unlock(held.key);
    const granted = await waiting;
    assert.deepEqual(events, ["first holds", "first unlocks", "second holds"]);
    assert.equal(bytesToText(granted.key), goKey("lock/serial", second));
    // etcd granted it at or after the revision of the unlock, not before.
    assert.ok((granted.header?.revision ?? 0n) >= (unlocked.header?.revision ?? 0n));
    await locks.unlock(granted.key);
  });

  it("revoking the holder's lease frees the lock for the next waiter", async () => {
    const [first, second] = [await lease(), await lease()];
    await locks.lock("lock/revoked", { lease: first });
    let granted = false;
    const waiting = locks.lock("lock/revoked", { lease: second }).then((res) => {
      granted = true;
      return res;
    });
    await waitFor(async () => (await queue("lock/revoked")).length === 2, 10_000, "the second waiter's key");
    assert.equal(granted, false);
    const revoked = await client.lease.revoke(first);
    const res = await waiting;
    assert.ok((res.header?.revision ?? 0n) >= (revoked.header?.revision ?? 0n));
    assert.deepEqual(await queue("lock/revoked"), [goKey("lock/revoked", second)]);
    await locks.unlock(res.key);
  });

  it("lock and campaign wait past the client's requestTimeoutMs: it is for calls that wait on no one", async () => {
    const requestTimeoutMs = 300;
    const strict = createClient({ endpoints: [etcd.clientUrl], requestTimeoutMs });
    try {
      const [first, second, third] = [await lease(), await lease(), await lease()];
      const held = await strict.lockService.lock("lock/patient", { lease: first });
      const waiting = strict.lockService.lock("lock/patient", { lease: second });
      const leader = await strict.electionService.campaign("election/patient", first, "one");
      const campaigning = strict.electionService.campaign("election/patient", third, "two");
      await waitFor(async () => (await queue("lock/patient")).length === 2, 10_000, "the lock waiter's key");
      await waitFor(
        async () => (await queue("election/patient")).length === 2,
        10_000,
        "the candidate's key",
      );
      // Longer than the client-wide deadline: a call bound by it would have failed by now.
      await new Promise((resolve) => setTimeout(resolve, 3 * requestTimeoutMs));
      // Calls that wait on no one keep the client-wide deadline (options.test.ts shows it): given
      // their own here, so a loaded machine cannot fail them at 300 ms.
      await strict.lockService.unlock(held.key, { timeoutMs: 10_000 });
      assert.equal(bytesToText((await waiting).key), goKey("lock/patient", second));
      await strict.electionService.resign(leader, { timeoutMs: 10_000 });
      assert.equal(bytesToText((await campaigning).key), goKey("election/patient", third));
    } finally {
      await strict.close();
    }
  });

  it("a lock aborted by its signal fails with canceled, and etcd withdraws the waiter", async () => {
    const [holder, aborted, next] = [await lease(), await lease(), await lease()];
    const held = await locks.lock("lock/abort", { lease: holder });
    const stop = new AbortController();
    const waiting = failure(locks.lock("lock/abort", { lease: aborted, signal: stop.signal }));
    await waitFor(async () => (await queue("lock/abort")).length === 2, 10_000, "the waiter's key");
    stop.abort();
    assert.equal((await waiting).reason, "canceled");
    await waitFor(
      async () => (await queue("lock/abort")).length === 1,
      10_000,
      "etcd to delete the withdrawn waiter's key",
    );
    // Nobody stale is queued: once the holder unlocks, the next caller gets the lock.
    await locks.unlock(held.key);
    const res = await locks.lock("lock/abort", { lease: next });
    assert.equal(bytesToText(res.key), goKey("lock/abort", next));
    await locks.unlock(res.key);
  });

  it("a lock whose timeoutMs passes fails with deadline_exceeded, and etcd withdraws the waiter", async () => {
    const [holder, late] = [await lease(), await lease()];
    const held = await locks.lock("lock/deadline", { lease: holder });
    const error = await failure(locks.lock("lock/deadline", { lease: late, timeoutMs: 300 }));
    assert.equal(error.reason, "deadline_exceeded");
    await waitFor(
      async () => (await queue("lock/deadline")).length === 1,
      10_000,
      "etcd to delete the expired waiter's key",
    );
    await locks.unlock(held.key);
  });

  it("a lease etcd does not know fails with lease_not_found; bad input fails before sending", async () => {
    const error = await failure(locks.lock("lock/unknown-lease", { lease: 0x7777_7777n }));
    assert.equal(error.reason, "lease_not_found");
    assert.equal((await failure(locks.lock("", { lease: 1 }))).reason, "invalid_argument");
    assert.equal((await failure(locks.lock("lock/x", { lease: 0 }))).reason, "invalid_argument");
    assert.deepEqual(await queue("lock/unknown-lease"), []);
  });

  it("shares locks with Go's concurrency layout: it queues behind a Go holder, and a Go contender sees it own", async () => {
    const name = "lock/interop";
    const [goHolder, ours, goContender] = [await lease(), await lease(), await lease()];
    // What Go's Mutex.Lock writes (and @etcd-connect/concurrency's createMutex): its key under the lease.
    await client.put(goKey(name, goHolder), "", { lease: goHolder });
    let granted = false;
    const waiting = locks.lock(name, { lease: ours }).then((res) => {
      granted = true;
      return res;
    });
    await waitFor(async () => (await queue(name)).length === 2, 10_000, "the service's waiter key");
    assert.equal(granted, false);
    // Go's Unlock deletes its key.
    await client.delete(goKey(name, goHolder));
    const held = await waiting;
    assert.equal(bytesToText(held.key), goKey(name, ours));
    // A Go contender puts its key and owns the lock only if its key is the oldest: it is not.
    await client.put(goKey(name, goContender), "", { lease: goContender });
    assert.deepEqual(await queue(name), [goKey(name, ours), goKey(name, goContender)]);
    await locks.unlock(held.key);
    assert.deepEqual(await queue(name), [goKey(name, goContender)]);
    await client.delete(goKey(name, goContender));
  });

  it("election: campaign, leader, proclaim, resign", async () => {
    const id = await lease();
    assert.equal(await elections.leader("election/basic"), undefined);
    const leader = await elections.campaign("election/basic", id, "node-1");
    assert.equal(bytesToText(leader.name), "election/basic");
    assert.equal(bytesToText(leader.key), goKey("election/basic", id));
    assert.equal(leader.lease, id);
    const kv = (await client.get(leader.key)).kvs[0];
    assert.equal(leader.rev, kv?.createRevision);
    const current = await elections.leader("election/basic");
    assert.deepEqual(current?.kv?.key, leader.key);
    assert.equal(bytesToText(current?.kv?.value ?? new Uint8Array()), "node-1");
    await elections.proclaim(leader, "node-1 (draining)");
    const proclaimed = await elections.leader("election/basic");
    assert.equal(bytesToText(proclaimed?.kv?.value ?? new Uint8Array()), "node-1 (draining)");
    // Campaigning again under the leading lease keeps the leadership, with the new value.
    const again = await elections.campaign("election/basic", id, "node-1 again");
    assert.deepEqual([again.key, again.rev], [leader.key, leader.rev]);
    const reelected = await elections.leader("election/basic");
    assert.equal(bytesToText(reelected?.kv?.value ?? new Uint8Array()), "node-1 again");
    await elections.resign(leader);
    assert.equal(await elections.leader("election/basic"), undefined);
  });

  it("election: a second candidate leads once the first resigns; the old leader may not proclaim", async () => {
    const [first, second] = [await lease(), await lease()];
    const events: string[] = [];
    const one = await elections.campaign("election/turns", first, "one");
    const campaigning = elections.campaign("election/turns", second, "two").then((leader) => {
      events.push("second leads");
      return leader;
    });
    await waitFor(async () => (await queue("election/turns")).length === 2, 10_000, "the second candidate");
    events.push("first resigns");
    await elections.resign(one);
    const two = await campaigning;
    assert.deepEqual(events, ["first resigns", "second leads"]);
    assert.equal(bytesToText(two.key), goKey("election/turns", second));
    const refused = await failure(elections.proclaim(one, "still me?"));
    assert.match(refused.message, /election: not leader/);
    assert.equal(refused.reason, "election_not_leader");
    assert.equal(
      bytesToText((await elections.leader("election/turns"))?.kv?.value ?? new Uint8Array()),
      "two",
    );
    await elections.resign(two);
  });

  it("observe sees the first leader, its proclamation and the next leader, in order", async () => {
    const name = "election/observed";
    const [first, second] = [await lease(), await lease()];
    const stop = new AbortController();
    const observed = elections.observe(name, { signal: stop.signal })[Symbol.asyncIterator]();
    const value = async () => {
      const next = await observed.next();
      assert.ok(!next.done, "observe ended early");
      const kv = next.value.kv;
      return {
        key: bytesToText(kv?.key ?? new Uint8Array()),
        value: bytesToText(kv?.value ?? new Uint8Array()),
      };
    };
    // Nobody leads yet: the first answer is whoever campaigns first.
    const firstAnswer = value();
    const one = await elections.campaign(name, first, "one");
    assert.deepEqual(await firstAnswer, { key: goKey(name, first), value: "one" });
    await elections.proclaim(one, "one, again");
    assert.deepEqual(await value(), { key: goKey(name, first), value: "one, again" });
    const campaigning = elections.campaign(name, second, "two");
    await waitFor(async () => (await queue(name)).length === 2, 10_000, "the second candidate");
    await elections.resign(one);
    assert.deepEqual(await value(), { key: goKey(name, second), value: "two" });
    await elections.resign(await campaigning);
    // The caller's signal ends the iteration quietly.
    stop.abort();
    assert.equal((await observed.next()).done, true);
  });

  it("leaving observe's loop ends the Observe stream on the server", async () => {
    const observeCounts = async () => {
      const text = await (await fetch(`${etcd.directClientUrl}/metrics`)).text();
      // Summed over the status codes the streams ended with.
      const count = (metric: string) =>
        text
          .split("\n")
          .filter((l) => l.startsWith(`${metric}{`) && l.includes('grpc_method="Observe"'))
          .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
      return { started: count("grpc_server_started_total"), handled: count("grpc_server_handled_total") };
    };
    const id = await lease();
    const leader = await elections.campaign("election/left", id, "v");
    const before = await observeCounts();
    for await (const res of elections.observe("election/left")) {
      assert.equal(bytesToText(res.kv?.value ?? new Uint8Array()), "v");
      break;
    }
    await waitFor(
      async () => {
        const now = await observeCounts();
        return now.started === before.started + 1 && now.handled === now.started;
      },
      10_000,
      "etcd to end the Observe stream we left",
    );
    await elections.resign(leader);
  });
});
