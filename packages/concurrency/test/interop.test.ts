import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Client, createClient } from "@etcd-connect/client";
import {
  createElection,
  createMutex,
  createSession,
  type Leader,
  type Session,
} from "@etcd-connect/concurrency";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { Etcdctl, text, waitForKeys } from "./helpers.js";

// `etcdctl lock` and `etcdctl elect` run Go's clientv3/concurrency: sharing locks and elections
// with them proves the key layout and the queueing rules match Go's byte for byte.
describe("interop with etcdctl lock / elect (Go's concurrency package)", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  const sessions: Session[] = [];
  const tools: Etcdctl[] = [];
  const session = async () => {
    const s = await createSession(client, { ttl: 10 });
    sessions.push(s);
    return s;
  };
  const etcdctl = (...args: string[]) => {
    const tool = new Etcdctl(etcd.clientUrl, args);
    tools.push(tool);
    return tool;
  };

  before(async () => {
    etcd = await startEtcd();
    client = createClient({ endpoints: [etcd.clientUrl] });
  });
  after(async () => {
    for (const tool of tools) await tool.kill();
    for (const s of sessions) await s.close().catch(() => {});
    await client?.close();
    await etcd?.close();
  });

  it("our lock waits while `etcdctl lock` holds it, and takes it when etcdctl is interrupted", async () => {
    const holder = etcdctl("lock", "interop/lock-a");
    const theirKey = await holder.nextLine(); // printed once etcdctl holds the lock
    assert.match(theirKey, /^interop\/lock-a\/[0-9a-f]+$/);

    const mutex = createMutex(await session(), "interop/lock-a");
    let locked = false;
    const locking = mutex.lock().then(() => {
      locked = true;
    });
    await waitForKeys(client, "interop/lock-a/", 2);
    assert.equal((await client.get(theirKey)).count, 1n);
    assert.equal(locked, false);

    assert.equal(await holder.interrupt(), 0, holder.stderr);
    await locking;
    // etcdctl released by deleting its key; only then could we hold the lock.
    assert.equal((await client.get(theirKey)).count, 0n);
    assert.equal(mutex.isOwner(), true);
    await mutex.unlock();
  });

  it("`etcdctl lock` waits while we hold the lock, and takes it when we unlock", async () => {
    const mutex = createMutex(await session(), "interop/lock-b");
    await mutex.lock();
    const waiter = etcdctl("lock", "interop/lock-b");
    await waitForKeys(client, "interop/lock-b/", 2);
    const queued = await client.get("interop/lock-b/", { prefix: true, sortTarget: "create" });
    const theirKey = text(queued.kvs[1]?.key);
    assert.equal(waiter.unread, 0, "etcdctl claimed the lock while we held it");

    await mutex.unlock();
    assert.equal(await waiter.nextLine(), theirKey);
    assert.equal(await waiter.interrupt(), 0, waiter.stderr);
    assert.equal((await client.get("interop/lock-b/", { prefix: true, countOnly: true })).count, 0n);
  });

  it("`etcdctl elect -l` observes our leader; we observe etcdctl's leader, in turn", async () => {
    const name = "interop/elect";
    const observer = etcdctl("elect", "-l", name);
    const election = createElection(await session(), name);
    const abort = new AbortController();
    const seen = election.observe({ signal: abort.signal })[Symbol.asyncIterator]();
    const next = async () => {
      const r = await seen.next();
      assert.equal(r.done, false);
      return r.value as Leader;
    };

    // We lead: etcdctl's observer prints our key and value.
    await election.campaign("ours");
    assert.equal(await observer.nextLine(), election.key);
    assert.equal(await observer.nextLine(), "ours");
    assert.equal(text((await next()).value), "ours");

    // An etcdctl candidate queues behind us and leads once we resign.
    const candidate = etcdctl("elect", name, "theirs");
    await waitForKeys(client, `${name}/`, 2);
    assert.equal(candidate.unread, 0, "etcdctl claimed leadership while we led");
    await election.resign();
    const theirKey = await candidate.nextLine();
    assert.equal(await candidate.nextLine(), "theirs");
    const theirs = await next();
    assert.equal(text(theirs.key), theirKey);
    assert.equal(text(theirs.value), "theirs");
    assert.equal(text((await election.leader())?.key), theirKey);
    assert.equal(await observer.nextLine(), theirKey);
    assert.equal(await observer.nextLine(), "theirs");

    // We campaign again, behind etcdctl; interrupting it makes it resign, and we lead.
    const campaigning = election.campaign("ours again");
    await waitForKeys(client, `${name}/`, 2);
    assert.equal(await candidate.interrupt(), 0, candidate.stderr);
    await campaigning;
    assert.equal(election.isLeader(), true);
    assert.equal(text((await next()).value), "ours again");
    assert.equal(await observer.nextLine(), election.key);
    assert.equal(await observer.nextLine(), "ours again");

    abort.abort();
    await election.resign();
    assert.equal(await observer.interrupt(), 0, observer.stderr);
  });
});
