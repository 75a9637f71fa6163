import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Client, createClient, opPut } from "@etcd-connect/client";
import { ConcurrencyError, createRWMutex, createSession, type Session } from "@etcd-connect/concurrency";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { etcdctlRun, text, waitForKeys } from "./helpers.js";

describe("RWMutex", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  const sessions: Session[] = [];
  const session = async (ttl = 10) => {
    const s = await createSession(client, { ttl });
    sessions.push(s);
    return s;
  };
  const count = async (prefix: string) => (await client.get(prefix, { prefix: true, countOnly: true })).count;

  before(async () => {
    etcd = await startEtcd();
    client = createClient({ endpoints: [etcd.clientUrl] });
  });
  after(async () => {
    for (const s of sessions) await s.close().catch(() => {});
    await client?.close();
    await etcd?.close();
  });

  it("uses Go's key layout: <name>/read/<ns> and <name>/write/<ns>, empty, on the session's lease", async () => {
    const s = await session();
    const rw = createRWMutex(s, "rw-test/layout");
    assert.equal(rw.prefix, "rw-test/layout/");
    await rw.rLock();
    assert.equal(rw.mode, "read");
    assert.match(rw.key ?? "", /^rw-test\/layout\/read\/[0-9]{19}$/);
    let stored = await client.get("rw-test/layout/", { prefix: true });
    assert.deepEqual(
      stored.kvs.map((kv) => [text(kv.key), text(kv.value), kv.lease, kv.createRevision]),
      [[rw.key, "", s.lease, rw.revision]],
    );
    await rw.rUnlock();
    assert.equal(await count("rw-test/layout/"), 0n);

    await rw.lock();
    assert.equal(rw.mode, "write");
    assert.match(rw.key ?? "", /^rw-test\/layout\/write\/[0-9]{19}$/);
    stored = await client.get("rw-test/layout/", { prefix: true });
    assert.deepEqual(
      stored.kvs.map((kv) => [text(kv.key), kv.lease]),
      [[rw.key, s.lease]],
    );
    const fenced = await client.txn().if(rw.isOwnerCompare()).then(opPut("rw-test/fenced", "x")).commit();
    assert.equal(fenced.succeeded, true);
    await assert.rejects(rw.rUnlock(), (error) => ConcurrencyError.is(error, "invalid_argument"));
    await assert.rejects(rw.rLock(), (error) => ConcurrencyError.is(error, "already_locked"));
    await rw.unlock();
    assert.equal(rw.mode, undefined);
    assert.throws(
      () => rw.isOwnerCompare(),
      (error) => ConcurrencyError.is(error, "not_locked"),
    );
    await rw.unlock(); // nothing held: nothing to do
  });

  it("readers share; a writer waits for them; a reader that comes after a waiting writer waits for it", async () => {
    const s = await session();
    const [r1, r2, w, r3] = [0, 1, 2, 3].map(() => createRWMutex(s, "rw-test/order"));
    assert.ok(r1 && r2 && w && r3);
    await r1.rLock();
    await r2.rLock(); // a second reader gets in while the first reads
    const order: string[] = [];
    const writing = w.lock().then(() => order.push("w"));
    await waitForKeys(client, "rw-test/order/", 3);
    const reading = r3.rLock().then(() => order.push("r3"));
    await waitForKeys(client, "rw-test/order/", 4);
    assert.deepEqual(order, []);

    await r1.rUnlock();
    // Still one reader in: after a round trip the writer still waits.
    assert.equal(await count("rw-test/order/"), 3n);
    assert.deepEqual(order, []);
    await r2.rUnlock();
    await writing;
    assert.deepEqual(order, ["w"]);
    assert.equal(r3.isOwner(), false);
    await w.unlock();
    await reading;
    assert.deepEqual(order, ["w", "r3"]);
    await r3.rUnlock();
  });

  it("an aborted wait removes its key and rejects with canceled; a lost session with session_expired", async () => {
    const holder = createRWMutex(await session(), "rw-test/abort");
    await holder.lock();
    const giveUp = new AbortController();
    const reader = createRWMutex(await session(), "rw-test/abort");
    const waiting = reader.rLock({ signal: giveUp.signal });
    await waitForKeys(client, "rw-test/abort/", 2);
    giveUp.abort();
    await assert.rejects(waiting, (error) => ConcurrencyError.is(error, "canceled"));
    assert.equal(reader.key, undefined);
    assert.equal(await count("rw-test/abort/"), 1n);

    const doomed = await session(3);
    const writer = createRWMutex(doomed, "rw-test/abort");
    const queued = writer.lock();
    await waitForKeys(client, "rw-test/abort/", 2);
    await client.lease.revoke(doomed.lease);
    await assert.rejects(queued, (error) => ConcurrencyError.is(error, "session_expired"));
    assert.equal(holder.isOwner(), true);
    await holder.unlock();
  });

  it("interoperates with a Go-layout writer key put by etcdctl", async () => {
    // What Go's RWMutex.Lock writes: an empty <name>/write/<ns> on its session's lease.
    const granted = await etcdctlRun(etcd.clientUrl, "lease", "grant", "30");
    const lease = /lease ([0-9a-f]+) granted/.exec(granted)?.[1];
    assert.ok(lease, granted);
    const theirs = `rw-test/go/write/${process.hrtime.bigint()}`;
    await etcdctlRun(etcd.clientUrl, "put", `--lease=${lease}`, theirs, "");

    const reader = createRWMutex(await session(), "rw-test/go");
    let reading = false;
    const locking = reader.rLock().then(() => {
      reading = true;
    });
    await waitForKeys(client, "rw-test/go/", 2);
    assert.equal(reading, false);
    await etcdctlRun(etcd.clientUrl, "del", theirs);
    await locking;
    assert.equal(reader.isOwner(), true);
    // And etcdctl sees our reader key where Go's RWMutex would look for it.
    const listed = await etcdctlRun(etcd.clientUrl, "get", "--prefix", "--keys-only", "rw-test/go/read");
    assert.equal(listed.trim(), reader.key);
    await reader.rUnlock();
    await etcdctlRun(etcd.clientUrl, "lease", "revoke", lease);
  });
});
