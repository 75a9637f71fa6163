import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Client, createClient } from "@etcd-connect/client";
import {
  createBarrier,
  createDoubleBarrier,
  createElection,
  createMutex,
  createPriorityQueue,
  createQueue,
  createRWMutex,
  createSession,
  resumeElection,
  runSTM,
  type Session,
  withLock,
} from "@etcd-connect/concurrency";
import { namespace } from "@etcd-connect/namespace";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { text, waitForKeys } from "./helpers.js";

describe("through a namespace", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  const sessions: Session[] = [];

  before(async () => {
    etcd = await startEtcd();
    client = createClient({ endpoints: [etcd.clientUrl] });
  });
  after(async () => {
    for (const s of sessions) await s.close().catch(() => {});
    await client?.close();
    await etcd?.close();
  });

  it("a mutex keeps its key under the namespace, and excludes a plain client's mutex on the full name", async () => {
    const tenant = namespace(client, "tenant/");
    const inside = await createSession(tenant, { ttl: 10 });
    const outside = await createSession(client, { ttl: 10 });
    sessions.push(inside, outside);

    const mutex = createMutex(inside, "locks/ns");
    await mutex.lock();
    assert.equal(mutex.key, `locks/ns/${inside.lease.toString(16)}`);
    const stored = await client.get("tenant/locks/ns/", { prefix: true });
    assert.deepEqual(
      stored.kvs.map((kv) => text(kv.key)),
      [`tenant/locks/ns/${inside.lease.toString(16)}`],
    );
    // The guard compare is relative to the namespace too.
    const guarded = await tenant.txn().if(mutex.isOwnerCompare()).commit();
    assert.equal(guarded.succeeded, true);

    const plain = createMutex(outside, "tenant/locks/ns");
    let locked = false;
    const locking = plain.lock().then(() => {
      locked = true;
    });
    await waitForKeys(client, "tenant/locks/ns/", 2);
    assert.equal(locked, false);
    await mutex.unlock();
    await locking;
    assert.equal(plain.isOwner(), true);
    await plain.unlock();
  });

  it("an election keeps its keys under the namespace; leader and observe read them back relative", async () => {
    const tenant = namespace(client, "tenant/");
    const a = await createSession(tenant, { ttl: 10 });
    const b = await createSession(tenant, { ttl: 10 });
    sessions.push(a, b);
    const first = createElection(a, "elections/ns");
    const second = createElection(b, "elections/ns");
    const abort = new AbortController();
    const seen = first.observe({ signal: abort.signal })[Symbol.asyncIterator]();

    await first.campaign("a");
    assert.equal(text((await seen.next()).value?.value), "a");
    const leader = await second.leader();
    assert.equal(text(leader?.key), `elections/ns/${a.lease.toString(16)}`);
    const raw = await client.get("tenant/elections/ns/", { prefix: true });
    assert.deepEqual(
      raw.kvs.map((kv) => [text(kv.key), text(kv.value)]),
      [[`tenant/elections/ns/${a.lease.toString(16)}`, "a"]],
    );

    const bLeads = second.campaign("b");
    await waitForKeys(client, "tenant/elections/ns/", 2);
    await first.resign();
    await bLeads;
    const next = await seen.next();
    assert.equal(text(next.value?.value), "b");
    assert.equal(text(next.value?.key), `elections/ns/${b.lease.toString(16)}`);
    abort.abort();
    await second.resign();
  });

  it("runSTM reads and writes inside the namespace", async () => {
    const tenant = namespace(client, "tenant/");
    await tenant.put("stm/counter", "41");
    const { result } = await runSTM(tenant, async (stm) => {
      const next = Number(await stm.getText("stm/counter")) + 1;
      stm.put("stm/counter", String(next));
      return next;
    });
    assert.equal(result, 42);
    assert.equal(await client.getText("tenant/stm/counter"), "42");
  });

  const rawKeys = async (prefix: string) =>
    (await client.get(prefix, { prefix: true, keysOnly: true })).kvs.map((kv) => text(kv.key) ?? "");

  it("withLock keeps its key under the namespace and excludes a plain client on the full name", async () => {
    const tenant = namespace(client, "tenant/");
    const outside = await createSession(client, { ttl: 10 });
    sessions.push(outside);
    const plain = createMutex(outside, "tenant/locks/with");
    let plainLocked = false;
    let locking: Promise<void> | undefined;
    await withLock(
      tenant,
      "locks/with",
      async (_signal, mutex) => {
        assert.equal(mutex.key, `locks/with/${mutex.session.lease.toString(16)}`);
        assert.deepEqual(await rawKeys("tenant/locks/with/"), [`tenant/${mutex.key}`]);
        locking = plain.lock().then(() => {
          plainLocked = true;
        });
        await waitForKeys(client, "tenant/locks/with/", 2);
        assert.equal(plainLocked, false);
      },
      { ttl: 5 },
    );
    await locking;
    assert.equal(plain.isOwner(), true);
    await plain.unlock();
  });

  it("RWMutex keys land under the namespace, and a writer outside waits for a reader inside", async () => {
    const tenant = namespace(client, "tenant/");
    const inside = await createSession(tenant, { ttl: 10 });
    const outside = await createSession(client, { ttl: 10 });
    sessions.push(inside, outside);
    const reader = createRWMutex(inside, "locks/rw");
    await reader.rLock();
    assert.match(reader.key ?? "", /^locks\/rw\/read\/[0-9]+$/);
    assert.deepEqual(await rawKeys("tenant/locks/rw/"), [`tenant/${reader.key}`]);
    const writer = createRWMutex(outside, "tenant/locks/rw");
    let writing = false;
    const locking = writer.lock().then(() => {
      writing = true;
    });
    await waitForKeys(client, "tenant/locks/rw/", 2);
    assert.equal(writing, false);
    await reader.rUnlock();
    await locking;
    assert.equal(writer.isOwner(), true);
    await writer.unlock();
  });

  it("queue and priority queue items (and bookkeeping keys) land under the namespace", async () => {
    const tenant = namespace(client, "tenant/");
    const queue = createQueue(tenant, "queues/q");
    const key = await queue.enqueue("job");
    assert.match(key, /^queues\/q\/[0-9]+$/);
    assert.deepEqual(await rawKeys("tenant/queues/q/"), [`tenant/${key}`]);
    // A plain client enqueueing on the full name feeds the same queue.
    await createQueue(client, "tenant/queues/q").enqueue("from outside");
    assert.equal(text((await queue.dequeue()).value), "job");
    const second = await queue.dequeue();
    assert.equal(text(second.value), "from outside");
    assert.match(text(second.key) ?? "", /^queues\/q\//); // read back relative to the namespace

    const pq = createPriorityQueue(tenant, "queues/pq");
    assert.equal(await pq.enqueue("urgent", 1), "queues/pq/00001/0000000000000000");
    assert.deepEqual(await rawKeys("tenant/queues/pq/"), ["tenant/queues/pq/00001/0000000000000000"]);
    assert.deepEqual(await rawKeys("tenant/__queues/pq/"), ["tenant/__queues/pq/00001"]);
    assert.equal(text((await pq.dequeue()).value), "urgent");
  });

  it("barrier and double barrier keys land under the namespace", async () => {
    const tenant = namespace(client, "tenant/");
    const barrier = createBarrier(tenant, "barriers/b");
    await barrier.hold();
    assert.deepEqual(await rawKeys("tenant/barriers/b"), ["tenant/barriers/b"]);
    const waiting = barrier.wait();
    // Released from outside, on the full name.
    await client.delete("tenant/barriers/b");
    await waiting;

    const a = await createSession(tenant, { ttl: 10 });
    const b = await createSession(tenant, { ttl: 10 });
    sessions.push(a, b);
    const first = createDoubleBarrier(a, "barriers/d", 2);
    const second = createDoubleBarrier(b, "barriers/d", 2);
    await Promise.all([first.enter(), second.enter()]);
    assert.deepEqual(
      (await rawKeys("tenant/barriers/d/")).sort(),
      ["tenant/barriers/d/ready", `tenant/${first.key}`, `tenant/${second.key}`].sort(),
    );
    await Promise.all([first.leave(), second.leave()]);
    assert.deepEqual(await rawKeys("tenant/barriers/d/"), []);
  });

  it("resumeElection takes back a campaign won inside the namespace", async () => {
    const tenant = namespace(client, "tenant/");
    const first = await createSession(tenant, { ttl: 10 });
    const won = createElection(first, "elections/resume");
    await won.campaign("before");
    await first.orphan();
    const again = await createSession(tenant, { lease: first.lease });
    sessions.push(again);
    const resumed = resumeElection(again, "elections/resume", won.key ?? "", won.revision ?? 0n);
    await resumed.proclaim("after");
    const raw = await client.get("tenant/elections/resume/", { prefix: true });
    assert.deepEqual(
      raw.kvs.map((kv) => [text(kv.key), text(kv.value)]),
      [[`tenant/${won.key}`, "after"]],
    );
    await resumed.resign();
  });
});
