import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Client, createClient, EtcdError } from "@etcd-connect/client";
import { ConcurrencyError, createMutex, createSession } from "@etcd-connect/concurrency";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";

describe("session", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  let operator: Client;
  before(async () => {
    etcd = await startEtcd();
    client = createClient({ endpoints: [etcd.clientUrl] });
    operator = createClient({ endpoints: [etcd.clientUrl] });
  });
  after(async () => {
    await client?.close();
    await operator?.close();
    await etcd?.close();
  });

  it("grants a lease with the TTL (default 60), keeps it alive, and close() revokes it", async () => {
    const byDefault = await createSession(client);
    assert.equal(byDefault.ttl, 60);
    await byDefault.close();

    const session = await createSession(client, { ttl: 5 });
    assert.equal(session.ttl, 5);
    const live = await operator.lease.timeToLive(session.lease);
    assert.equal(live.grantedTTL, 5n);
    assert.ok(live.TTL > 0n);
    assert.equal(session.isDone, false);

    await session.close();
    await session.close(); // idempotent
    const end = await session.done;
    assert.ok(ConcurrencyError.is(end, "session_closed"));
    assert.equal(session.signal.aborted, true);
    assert.equal((await operator.lease.timeToLive(session.lease)).TTL, -1n);
  });

  it("done settles with lease_not_found when the lease is revoked elsewhere", async () => {
    const session = await createSession(client, { ttl: 2 });
    await operator.lease.revoke(session.lease);
    const end = await session.done;
    assert.ok(EtcdError.is(end, "lease_not_found"), String(end));
    assert.equal(session.isDone, true);
    await session.close(); // the lease is gone already: nothing to revoke, no error
  });

  it("done settles with lease_not_found when the lease is revoked through the same client", async () => {
    const session = await createSession(client, { ttl: 5 });
    await client.lease.revoke(session.lease);
    const end = await session.done;
    assert.ok(EtcdError.is(end, "lease_not_found"), String(end));
  });

  it("adopts an existing lease: a new session takes back the lock its keys still hold", async () => {
    const first = await createSession(client, { ttl: 30 });
    const mutex = createMutex(first, "session-test/resume");
    await mutex.lock();
    const key = mutex.key;
    const revision = mutex.revision;
    await first.orphan(); // as a crashed process would: the lease lives on

    const second = await createSession(client, { lease: first.lease });
    assert.equal(second.lease, first.lease);
    assert.equal(second.ttl, 30);
    const again = createMutex(second, "session-test/resume");
    await again.tryLock(); // our key is still first in line
    assert.equal(again.key, key);
    assert.equal(again.revision, revision);
    await again.unlock();
    await second.close();
  });

  it("refuses a lease that does not exist and a bad TTL", async () => {
    await assert.rejects(createSession(client, { lease: 0x1234567n }), (error) =>
      ConcurrencyError.is(error, "session_expired"),
    );
    await assert.rejects(createSession(client, { ttl: 0 }), (error) =>
      ConcurrencyError.is(error, "invalid_argument"),
    );
    await assert.rejects(createSession(client, { ttl: 1.5 }), (error) =>
      ConcurrencyError.is(error, "invalid_argument"),
    );
  });

  it("nothing starts on a closed session", async () => {
    const session = await createSession(client, { ttl: 5 });
    await session.close();
    await assert.rejects(createMutex(session, "session-test/closed").lock(), (error) =>
      ConcurrencyError.is(error, "session_closed"),
    );
  });
});
