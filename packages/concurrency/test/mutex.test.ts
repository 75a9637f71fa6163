import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Client, createClient, EtcdError, opPut } from "@etcd-connect/client";
import { ConcurrencyError, createMutex, createSession, type Session } from "@etcd-connect/concurrency";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { waitForKeys } from "./helpers.js";

describe("mutex", integrationOptions(), () => {
  let etcd: EtcdMember;
  let clients: Client[];
  let client: Client;
  const sessions: Session[] = [];
  const session = async (ttl = 10, on = client) => {
    const s = await createSession(on, { ttl });
    sessions.push(s);
    return s;
  };

  before(async () => {
    etcd = await startEtcd();
    clients = [1, 2, 3].map(() => createClient({ endpoints: [etcd.clientUrl] }));
    client = clients[0] as Client;
  });
  after(async () => {
    for (const s of sessions) await s.close().catch(() => {});
    for (const c of clients ?? []) await c.close();
    await etcd?.close();
  });

  it("uses Go's key layout: <name>/<lease id in lowercase hex>, holding no value", async () => {
    const s = await session();
    const mutex = createMutex(s, "mutex-test/layout");
    assert.equal(mutex.prefix, "mutex-test/layout/");
    await mutex.lock();
    assert.equal(mutex.key, `mutex-test/layout/${s.lease.toString(16)}`);
    const res = await client.get(mutex.key ?? "");
    assert.equal(res.kvs[0]?.lease, s.lease);
    assert.equal(res.kvs[0]?.value.length, 0);
    assert.equal(mutex.revision, res.kvs[0]?.createRevision);
    assert.equal(mutex.isOwner(), true);
    await mutex.unlock();
    assert.equal(mutex.isOwner(), false);
    assert.equal((await client.get(`mutex-test/layout/${s.lease.toString(16)}`)).count, 0n);
    await mutex.unlock(); // not held: nothing to do
  });

  it("10 contenders x 50 rounds: the count is exact and critical sections never overlap", async () => {
    const counter = "mutex-test/counter";
    await client.put(counter, "0");
    let inside = false;
    let overlaps = 0;
    const contender = async (i: number) => {
      const on = clients[i % clients.length] as Client;
      const mutex = createMutex(await session(10, on), "mutex-test/count");
      for (let round = 0; round < 50; round++) {
        await mutex.lock();
        if (inside) overlaps++;
        inside = true;
        const value = Number(await on.getText(counter));
        const res = await on
          .txn()
          .if(mutex.isOwnerCompare())
          .then(opPut(counter, String(value + 1)))
          .commit();
        assert.equal(res.succeeded, true, "the ownership compare failed while holding the lock");
        inside = false;
        await mutex.unlock();
      }
    };
    await Promise.all(Array.from({ length: 10 }, (_, i) => contender(i)));
    assert.equal(overlaps, 0);
    assert.equal(await client.getText(counter), "500");
    assert.equal((await client.get("mutex-test/count/", { prefix: true, countOnly: true })).count, 0n);
  });

  it("tryLock() fails with reason locked and leaves no key behind; succeeds once free", async () => {
    const holder = createMutex(await session(), "mutex-test/try");
    const other = createMutex(await session(), "mutex-test/try");
    await holder.lock();
    await assert.rejects(other.tryLock(), (error) => {
      assert.ok(ConcurrencyError.is(error, "locked"));
      assert.match(error.message, /locked by another session/);
      return true;
    });
    assert.equal(other.key, undefined);
    assert.equal((await client.get("mutex-test/try/", { prefix: true, countOnly: true })).count, 1n);
    await assert.rejects(holder.lock(), (error) => ConcurrencyError.is(error, "already_locked"));
    await holder.unlock();
    await other.tryLock();
    assert.equal(other.isOwner(), true);
    await other.unlock();
  });

  it("waiters get the lock in the order they queued", async () => {
    const [a, b, c] = await Promise.all(
      [0, 1, 2].map(async () => createMutex(await session(), "mutex-test/fifo")),
    );
    assert.ok(a && b && c);
    await a.lock();
    const order: string[] = [];
    const bLocked = b.lock().then(() => order.push("b"));
    await waitForKeys(client, "mutex-test/fifo/", 2);
    const cLocked = c.lock().then(() => order.push("c"));
    await waitForKeys(client, "mutex-test/fifo/", 3);
    assert.deepEqual(order, []);

    await a.unlock();
    await bLocked;
    // c waits for b's key, not a's: after a round trip it still waits.
    assert.equal((await client.get(c.key ?? "")).count, 1n);
    assert.deepEqual(order, ["b"]);
    assert.equal(c.isOwner(), false);
    await b.unlock();
    await cLocked;
    assert.deepEqual(order, ["b", "c"]);
    await c.unlock();
  });

  it("an aborted lock() rejects with canceled and leaves the queue", async () => {
    const holder = createMutex(await session(), "mutex-test/abort");
    const waiter = createMutex(await session(), "mutex-test/abort");
    await holder.lock();
    const abort = new AbortController();
    const waiting = waiter.lock({ signal: abort.signal });
    await waitForKeys(client, "mutex-test/abort/", 2);
    abort.abort();
    await assert.rejects(waiting, (error) => ConcurrencyError.is(error, "canceled"));
    assert.equal((await client.get("mutex-test/abort/", { prefix: true, countOnly: true })).count, 1n);
    await holder.unlock();
    await waiter.lock(); // usable again
    await waiter.unlock();
  });

  it("the ownership compare fails once the lock is lost, and isOwner() turns false", async () => {
    const s = await session(3);
    const mutex = createMutex(s, "mutex-test/owner");
    await mutex.lock();
    const guarded = () =>
      client.txn().if(mutex.isOwnerCompare()).then(opPut("mutex-test/guarded", "x")).commit();
    assert.equal((await guarded()).succeeded, true);

    // An operator revokes the session's lease: the lock key goes at once.
    await clients[1]?.lease.revoke(s.lease);
    assert.equal((await guarded()).succeeded, false);
    const end = await s.done;
    assert.ok(EtcdError.is(end, "lease_not_found"));
    assert.equal(mutex.isOwner(), false);

    await mutex.unlock();
    assert.throws(
      () => mutex.isOwnerCompare(),
      (error) => ConcurrencyError.is(error, "not_locked"),
    );
  });

  it("a waiting lock() rejects with session_expired when its session is lost", async () => {
    const holder = createMutex(await session(), "mutex-test/lost");
    const s = await session(3);
    const waiter = createMutex(s, "mutex-test/lost");
    await holder.lock();
    const waiting = waiter.lock();
    await waitForKeys(client, "mutex-test/lost/", 2);
    await clients[1]?.lease.revoke(s.lease);
    await assert.rejects(waiting, (error) => ConcurrencyError.is(error, "session_expired"));
    assert.equal(holder.isOwner(), true);
    await holder.unlock();
  });
});
