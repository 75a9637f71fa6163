import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Client, createClient, type EtcdApi, EtcdError, opPut } from "@etcd-connect/client";
import { ConcurrencyError, type Mutex, withLock } from "@etcd-connect/concurrency";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { Etcdctl, text, waitForKeys } from "./helpers.js";

describe("withLock", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  let operator: Client;
  const tools: Etcdctl[] = [];

  before(async () => {
    etcd = await startEtcd();
    client = createClient({ endpoints: [etcd.clientUrl] });
    operator = createClient({ endpoints: [etcd.clientUrl] });
  });
  after(async () => {
    for (const tool of tools) await tool.kill();
    await client?.close();
    await operator?.close();
    await etcd?.close();
  });

  const keysUnder = async (prefix: string) =>
    (await client.get(prefix, { prefix: true, keysOnly: true })).kvs.map((kv) => text(kv.key));

  it("runs fn under the lock with Go's key layout, returns its result, and leaves no key or lease", async () => {
    const result = await withLock(
      client,
      "with-lock/basic",
      async (signal, mutex) => {
        assert.equal(signal.aborted, false);
        assert.equal(mutex.isOwner(), true);
        const held = await client.get("with-lock/basic/", { prefix: true });
        assert.deepEqual(
          held.kvs.map((kv) => [text(kv.key), kv.lease]),
          [[`with-lock/basic/${mutex.session.lease.toString(16)}`, mutex.session.lease]],
        );
        // The fencing compare works inside fn.
        const res = await client
          .txn()
          .if(mutex.isOwnerCompare())
          .then(opPut("with-lock/fenced", "yes"))
          .commit();
        assert.equal(res.succeeded, true);
        return 42;
      },
      { ttl: 5 },
    );
    assert.equal(result, 42);
    assert.deepEqual(await keysUnder("with-lock/basic/"), []);
    assert.deepEqual((await client.lease.leases()).leases, []);
  });

  it("a throwing fn rejects withLock with its error, and the lock goes to the next in line", async () => {
    const boom = new Error("fn failed");
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => {
      entered = resolve;
    });
    let fail!: () => void;
    const failing = withLock(
      client,
      "with-lock/throw",
      async () => {
        entered();
        await new Promise<void>((resolve) => {
          fail = resolve;
        });
        throw boom;
      },
      { ttl: 5 },
    );
    await inside;
    const order: string[] = [];
    const next = withLock(client, "with-lock/throw", () => order.push("next ran"), { ttl: 5 });
    await waitForKeys(client, "with-lock/throw/", 2);
    assert.deepEqual(order, []);
    fail();
    await assert.rejects(failing, (error) => error === boom);
    assert.equal(await next, 1);
    assert.deepEqual(order, ["next ran"]);
    assert.deepEqual(await keysUnder("with-lock/throw/"), []);
  });

  it("a lease lost while fn runs aborts fn's signal and rejects with session_expired", async () => {
    let held!: (mutex: Mutex) => void;
    const holding = new Promise<Mutex>((resolve) => {
      held = resolve;
    });
    let seen: unknown;
    const running = withLock(
      client,
      "with-lock/lost",
      async (signal, mutex) => {
        held(mutex);
        // Work that honours its signal, as fn should: it stops when the lock is lost.
        await new Promise<void>((_, reject) => {
          signal.addEventListener("abort", () => reject(signal.reason), { once: true });
        });
      },
      { ttl: 5 },
    );
    const mutex = await holding;
    await operator.lease.revoke(mutex.session.lease);
    await assert.rejects(running, (error) => {
      assert.ok(ConcurrencyError.is(error, "session_expired"), String(error));
      assert.match(error.message, /lost while fn ran/);
      seen = error.cause;
      return true;
    });
    // fn rejected with its signal's reason: why the session ended.
    assert.ok(EtcdError.is(seen, "lease_not_found"), String(seen));
    assert.deepEqual(await keysUnder("with-lock/lost/"), []);
  });

  it("a fn that ignores the lost lock and returns still rejects: its work was not under the lock", async () => {
    let held!: (mutex: Mutex) => void;
    const holding = new Promise<Mutex>((resolve) => {
      held = resolve;
    });
    const running = withLock(
      client,
      "with-lock/ignored",
      async (signal, mutex) => {
        held(mutex);
        await new Promise<void>((resolve) =>
          signal.addEventListener("abort", () => resolve(), { once: true }),
        );
        return "done anyway";
      },
      { ttl: 5 },
    );
    await operator.lease.revoke((await holding).session.lease);
    await assert.rejects(running, (error) => {
      assert.ok(ConcurrencyError.is(error, "session_expired"), String(error));
      assert.ok(EtcdError.is(error.cause, "lease_not_found"), String(error.cause));
      return true;
    });
  });

  it("the caller's signal: cancels a wait (no key left behind) and aborts a running fn", async () => {
    let release!: () => void;
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const holder = withLock(
      client,
      "with-lock/abort",
      async () => {
        entered();
        await new Promise<void>((resolve) => {
          release = resolve;
        });
      },
      { ttl: 5 },
    );
    await inside;
    const giveUp = new AbortController();
    const waiting = withLock(client, "with-lock/abort", () => "never", { ttl: 5, signal: giveUp.signal });
    await waitForKeys(client, "with-lock/abort/", 2);
    giveUp.abort();
    await assert.rejects(waiting, (error) => ConcurrencyError.is(error, "canceled"));
    assert.equal((await keysUnder("with-lock/abort/")).length, 1);
    release();
    await holder;

    const stop = new AbortController();
    const aborted = withLock(
      client,
      "with-lock/abort",
      (signal) =>
        new Promise<string>((resolve) => {
          signal.addEventListener("abort", () => resolve(`stopped: ${String(signal.reason)}`), {
            once: true,
          });
          stop.abort("shutting down");
        }),
      { ttl: 5, signal: stop.signal },
    );
    // The lock was held throughout, so fn's own answer stands.
    assert.equal(await aborted, "stopped: shutting down");
    assert.deepEqual(await keysUnder("with-lock/abort/"), []);
    assert.deepEqual((await client.lease.leases()).leases, []);
  });

  it("bad input is refused before any request", async () => {
    const calls: string[] = [];
    const recording = new Proxy(client, {
      get(target, property, receiver) {
        calls.push(String(property));
        return Reflect.get(target, property, receiver);
      },
    }) as EtcdApi;
    const fn = () => 1;
    const invalid = (error: unknown) => ConcurrencyError.is(error, "invalid_argument");
    await assert.rejects(withLock(recording, 7 as unknown as string, fn), invalid);
    await assert.rejects(withLock(recording, "with-lock/bad", "fn" as unknown as () => number), invalid);
    await assert.rejects(withLock(recording, "with-lock/bad", fn, { ttl: 0 }), invalid);
    await assert.rejects(withLock(recording, "with-lock/bad", fn, { ttl: 2.5 }), invalid);
    await assert.rejects(withLock(recording, "with-lock/bad", fn, { signal: AbortSignal.abort() }), (error) =>
      ConcurrencyError.is(error, "canceled"),
    );
    assert.deepEqual(calls, []);
  });

  it("shares the lock with `etcdctl lock` (Go's mutex), both ways", async () => {
    const holder = new Etcdctl(etcd.clientUrl, ["lock", "with-lock/go"]);
    tools.push(holder);
    const theirKey = await holder.nextLine();
    let ran = false;
    const running = withLock(
      client,
      "with-lock/go",
      async () => {
        ran = true;
        // While we hold it, etcdctl queues behind us.
        const waiter = new Etcdctl(etcd.clientUrl, ["lock", "with-lock/go"]);
        tools.push(waiter);
        await waitForKeys(client, "with-lock/go/", 2);
        assert.equal(waiter.unread, 0, "etcdctl took the lock while withLock held it");
        return waiter;
      },
      { ttl: 5 },
    );
    await waitForKeys(client, "with-lock/go/", 2);
    assert.equal(ran, false);
    assert.equal(await holder.interrupt(), 0, holder.stderr); // etcdctl unlocks on SIGTERM
    const waiter = await running;
    // withLock released on the way out: etcdctl gets the lock.
    const waiterKey = await waiter.nextLine();
    assert.match(waiterKey, /^with-lock\/go\/[0-9a-f]+$/);
    assert.notEqual(waiterKey, theirKey);
    assert.equal(await waiter.interrupt(), 0, waiter.stderr);
  });
});
