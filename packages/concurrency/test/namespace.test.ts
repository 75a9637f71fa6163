import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Client, createClient } from "@etcd-connect/client";
import { createElection, createMutex, createSession, runSTM, type Session } from "@etcd-connect/concurrency";
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
});
