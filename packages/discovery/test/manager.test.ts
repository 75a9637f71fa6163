import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Client, createClient, type EtcdApi, EtcdError, type Watcher } from "@etcd-connect/client";
import { ConcurrencyError, createSession } from "@etcd-connect/concurrency";
import {
  createEndpointManager,
  decodeEndpoint,
  type Endpoint,
  type EndpointSnapshot,
  type EndpointUpdate,
  encodeEndpoint,
} from "@etcd-connect/discovery";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { countingClient, delegating, plain, Snapshots, stored } from "./helpers.js";

const isInvalid = (error: unknown) => EtcdError.is(error, "invalid_argument");

/** The endpoints a read at `revision` finds: what a snapshot of that revision must hold. */
async function endpointsAt(
  client: EtcdApi,
  prefix: string,
  revision: bigint,
): Promise<Record<string, Endpoint>> {
  const out: Record<string, Endpoint> = {};
  for (const [key, value] of await stored(client, prefix, revision)) {
    const endpoint = decodeEndpoint(value);
    if (endpoint !== undefined) out[key] = endpoint;
  }
  return out;
}

describe("endpoint manager against a real etcd", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  const watches: Snapshots[] = [];
  const watch = (target: string) => {
    const snapshots = new Snapshots(createEndpointManager(client, target));
    watches.push(snapshots);
    return snapshots;
  };
  /** Each snapshot must be exactly what the store held at its revision. */
  const assertWhole = async (snapshot: EndpointSnapshot, prefix: string) => {
    assert.deepEqual(plain(snapshot.endpoints), await endpointsAt(client, prefix, snapshot.revision));
  };

  before(async () => {
    etcd = await startEtcd();
    client = createClient({ endpoints: [etcd.clientUrl] });
  });
  after(async () => {
    for (const snapshots of watches) await snapshots.close();
    await client?.close();
    await etcd?.close();
  });

  it("add, list and delete: the key as given, the value in Go's JSON", async () => {
    const manager = createEndpointManager(client, "crud");
    assert.equal(manager.target, "crud");
    const metadata = { weight: 2, zone: "b" };
    const added = await manager.add("crud/node-1", { addr: "10.0.0.1:80", metadata });
    await manager.add("crud/node-2", { addr: "10.0.0.2:80" });
    assert.deepEqual(
      [...(await stored(client, "crud/"))],
      [
        ["crud/node-1", encodeEndpoint({ addr: "10.0.0.1:80", metadata })],
        ["crud/node-2", '{"Op":0,"Addr":"10.0.0.2:80","Metadata":null}'],
      ],
    );
    assert.deepEqual(plain(await manager.list()), {
      "crud/node-1": { addr: "10.0.0.1:80", metadata },
      "crud/node-2": { addr: "10.0.0.2:80", metadata: null },
    });
    const deleted = await manager.delete("crud/node-1");
    assert.ok(deleted > added);
    assert.deepEqual([...(await manager.list()).keys()], ["crud/node-2"]);
  });

  it("update applies adds and deletes in one transaction, at one revision", async () => {
    const manager = createEndpointManager(client, "batch");
    await manager.add("batch/old", { addr: "10.0.1.1:80" });
    const revision = await manager.update([
      { op: "add", key: "batch/a", endpoint: { addr: "10.0.1.2:80" } },
      { op: "add", key: "batch/b", endpoint: { addr: "10.0.1.3:80" } },
      { op: "delete", key: "batch/old" },
    ]);
    const res = await client.get("batch/", { prefix: true });
    assert.deepEqual(
      res.kvs.map((kv) => kv.modRevision),
      [revision, revision],
    );
    assert.deepEqual([...(await manager.list()).keys()], ["batch/a", "batch/b"]);
  });

  it("add with a lease: the endpoint goes with the lease", async () => {
    const manager = createEndpointManager(client, "leased");
    const { ID } = await client.lease.grant(30);
    await manager.add("leased/a", { addr: "10.0.2.1:80" }, { lease: ID });
    assert.equal((await client.get("leased/a")).kvs[0]?.lease, ID);
    await client.lease.revoke(ID);
    assert.equal((await manager.list()).size, 0);
  });

  it("refuses bad input with invalid_argument before any request", async () => {
    assert.throws(() => createEndpointManager(client, ""), isInvalid);
    assert.throws(() => createEndpointManager(client, 7 as unknown as string), isInvalid);
    const counted = countingClient(client);
    const manager = createEndpointManager(counted.client, "svc");
    const good = { addr: "10.0.0.1:80" };
    const tooMany: EndpointUpdate[] = Array.from({ length: 129 }, (_, i) => ({
      op: "delete",
      key: `svc/${i}`,
    }));
    const attempts: Array<[string, () => Promise<unknown>]> = [
      ["a key outside the target", () => manager.add("other/a", good)],
      ["the target itself as key", () => manager.add("svc", good)],
      ["a key of another target with the same start", () => manager.add("svc-admin/a", good)],
      ["a key that is not a string", () => manager.add(5 as unknown as string, good)],
      ["an endpoint without addr", () => manager.add("svc/a", {} as Endpoint)],
      ["metadata that is not JSON", () => manager.add("svc/a", { addr: "a", metadata: { n: 1n } as never })],
      ["a negative lease", () => manager.add("svc/a", good, { lease: -1 })],
      ["a signal that is not one", () => manager.add("svc/a", good, { signal: {} as AbortSignal })],
      ["delete outside the target", () => manager.delete("other/a")],
      [
        "update twice on one key",
        () =>
          manager.update([
            { op: "delete", key: "svc/a" },
            { op: "add", key: "svc/a", endpoint: good },
          ]),
      ],
      ["an unknown op", () => manager.update([{ op: "put", key: "svc/a" } as unknown as EndpointUpdate])],
      ["updates that are not an array", () => manager.update("svc/a" as unknown as EndpointUpdate[])],
      ["more updates than a txn takes", () => manager.update(tooMany)],
      ["register with a ttl of 0", () => manager.register("svc/a", good, { ttl: 0 })],
      ["register with a fractional ttl", () => manager.register("svc/a", good, { ttl: 1.5 })],
      ["register outside the target", () => manager.register("other/a", good)],
      ["register with a bad endpoint", () => manager.register("svc/a", { addr: "" })],
      [
        "list with a signal that is not one",
        () => manager.list({ signal: "stop" as unknown as AbortSignal }),
      ],
    ];
    for (const [what, attempt] of attempts) await assert.rejects(attempt, isInvalid, what);
    assert.throws(() => manager.watch({ signal: {} as AbortSignal }), isInvalid);
    const session = await createSession(client, { ttl: 5 });
    try {
      await assert.rejects(manager.register("svc/a", good, { ttl: 5, session }), isInvalid);
    } finally {
      await session.close();
    }
    assert.equal(counted.calls(), 0, "no request was made");
  });

  it("reads only its own target, not others that start with the same text", async () => {
    const api = createEndpointManager(client, "api");
    await createEndpointManager(client, "api-admin").add("api-admin/x", { addr: "10.0.3.1:80" });
    await api.add("api/y", { addr: "10.0.3.2:80" });
    assert.deepEqual([...(await api.list()).keys()], ["api/y"]);
    const snapshots = watch("api");
    assert.deepEqual([...(await snapshots.next()).endpoints.keys()], ["api/y"]);
    await snapshots.close();
  });

  it("leaves out values that are not endpoints, as Go does, and says so to the logger", async () => {
    const warnings: unknown[] = [];
    const manager = createEndpointManager(client, "mixed", {
      logger: { warn: (message, fields) => warnings.push({ message, fields }) },
    });
    await client.put("mixed/bad", "not json");
    await client.put("mixed/array", "[1]");
    await manager.add("mixed/good", { addr: "10.0.4.1:80" });
    assert.deepEqual([...(await manager.list()).keys()], ["mixed/good"]);
    assert.deepEqual(
      warnings.map((w) => (w as { fields: { key: string } }).fields.key),
      ["mixed/array", "mixed/bad"],
    );
  });

  it("watch: the set, then the whole set after each change, each the store at its revision", async () => {
    const manager = createEndpointManager(client, "w");
    await manager.add("w/a", { addr: "10.0.5.1:80" });
    const snapshots = watch("w");
    const first = await snapshots.next();
    assert.deepEqual(first.updates, [
      { op: "add", key: "w/a", endpoint: { addr: "10.0.5.1:80", metadata: null } },
    ]);
    await assertWhole(first, "w/");

    const addedAt = await manager.add("w/b", { addr: "10.0.5.2:80", metadata: { zone: "x" } });
    const added = await snapshots.next();
    assert.equal(added.revision, addedAt);
    assert.deepEqual(added.updates, [
      { op: "add", key: "w/b", endpoint: { addr: "10.0.5.2:80", metadata: { zone: "x" } } },
    ]);
    assert.deepEqual([...added.endpoints.keys()], ["w/a", "w/b"]);
    await assertWhole(added, "w/");
    // The first snapshot is untouched by what came after.
    assert.deepEqual([...first.endpoints.keys()], ["w/a"]);

    // One transaction, one snapshot.
    const batchAt = await manager.update([
      { op: "delete", key: "w/a" },
      { op: "add", key: "w/c", endpoint: { addr: "10.0.5.3:80" } },
    ]);
    const batch = await snapshots.next();
    assert.equal(batch.revision, batchAt);
    assert.deepEqual(batch.updates, [
      { op: "delete", key: "w/a" },
      { op: "add", key: "w/c", endpoint: { addr: "10.0.5.3:80", metadata: null } },
    ]);
    await assertWhole(batch, "w/");

    // Writing the same bytes again changes nothing: no snapshot for it.
    await client.put("w/b", encodeEndpoint({ addr: "10.0.5.2:80", metadata: { zone: "x" } }));
    const changedAt = await manager.add("w/b", { addr: "10.0.5.9:80" });
    const changed = await snapshots.next();
    assert.equal(changed.revision, changedAt);
    assert.deepEqual(changed.updates, [
      { op: "add", key: "w/b", endpoint: { addr: "10.0.5.9:80", metadata: null } },
    ]);

    // A value Go would not read takes the endpoint out of the set, as a fresh read would.
    await client.put("w/c", "garbage");
    const spoiled = await snapshots.next();
    assert.deepEqual(spoiled.updates, [{ op: "delete", key: "w/c" }]);
    assert.deepEqual([...spoiled.endpoints.keys()], ["w/b"]);
    await assertWhole(spoiled, "w/");
    await snapshots.close();
  });

  it("watch: aborting the signal ends the loop quietly, and leaving the loop closes the watch", async () => {
    const watchers: Watcher[] = [];
    const spy = delegating(client, {
      watch: (key, options) => {
        const watcher = client.watch(key, options);
        watchers.push(watcher);
        return watcher;
      },
    });
    const manager = createEndpointManager(spy, "stop");
    const abort = new AbortController();
    let seen = 0;
    const loop = (async () => {
      for await (const _ of manager.watch({ signal: abort.signal })) {
        seen++;
        if (seen === 1) await manager.add("stop/a", { addr: "10.0.6.1:80" });
        if (seen === 2) abort.abort();
      }
    })();
    await loop;
    assert.equal(seen, 2);
    assert.equal(watchers[0]?.status.state, "closed");

    let snapshots = 0;
    for await (const snapshot of manager.watch()) {
      // The first snapshot comes from the read, before the watch starts; the second from it.
      if (++snapshots === 1) await manager.add("stop/b", { addr: "10.0.6.2:80" });
      else {
        assert.deepEqual([...snapshot.endpoints.keys()], ["stop/a", "stop/b"]);
        break;
      }
    }
    assert.equal(watchers.length, 2);
    assert.equal(watchers[1]?.status.state, "closed");
  });

  it("watch: compacted past its revision, it reads the set afresh and goes on", async () => {
    const manager = createEndpointManager(client, "comp");
    await manager.add("comp/a", { addr: "10.0.7.1:80" });
    // Between the first read and the start of the watch: two writes, then a compaction past
    // them, so the watch from the read's next revision finds its history gone.
    let armed = true;
    const racing = delegating(client, {
      get: async (key, options) => {
        const res = await client.get(key, options);
        if (armed) {
          armed = false;
          await manager.add("comp/b", { addr: "10.0.7.2:80" });
          const last = await manager.add("comp/c", { addr: "10.0.7.3:80" });
          await client.compact(last);
        }
        return res;
      },
    });
    const snapshots = new Snapshots(createEndpointManager(racing, "comp"));
    watches.push(snapshots);
    const first = await snapshots.next();
    assert.deepEqual([...first.endpoints.keys()], ["comp/a"]);
    const fresh = await snapshots.next();
    assert.deepEqual([...fresh.endpoints.keys()], ["comp/a", "comp/b", "comp/c"]);
    assert.deepEqual(
      fresh.updates.map((u) => `${u.op} ${u.key}`),
      ["add comp/b", "add comp/c"],
    );
    await assertWhole(fresh, "comp/");
    // And it watches on from there.
    const deletedAt = await manager.delete("comp/a");
    const next = await snapshots.next();
    assert.equal(next.revision, deletedAt);
    assert.deepEqual([...next.endpoints.keys()], ["comp/b", "comp/c"]);
    await snapshots.close();
  });

  it("register: the key under a lease it keeps alive; close revokes it and the key goes at once", async () => {
    const manager = createEndpointManager(client, "reg");
    const registration = await manager.register("reg/node-1", { addr: "10.0.8.1:80" }, { ttl: 5 });
    assert.equal(registration.key, "reg/node-1");
    const live = await client.lease.timeToLive(registration.lease, { keys: true });
    assert.equal(live.grantedTTL, 5n);
    assert.deepEqual(
      live.keys.map((k) => new TextDecoder().decode(k)),
      ["reg/node-1"],
    );
    assert.deepEqual(plain(await manager.list()), { "reg/node-1": { addr: "10.0.8.1:80", metadata: null } });

    await registration.close();
    assert.ok(ConcurrencyError.is(await registration.done, "session_closed"));
    assert.equal(registration.signal.aborted, true);
    assert.equal((await manager.list()).size, 0);
    assert.equal((await client.lease.timeToLive(registration.lease)).TTL, -1n);
    await registration.close(); // idempotent
  });

  it("register under a given session: close deletes its own key only, and not one registered again", async () => {
    const manager = createEndpointManager(client, "shared");
    const session = await createSession(client, { ttl: 10 });
    try {
      const one = await manager.register("shared/one", { addr: "10.0.9.1:80" }, { session });
      const two = await manager.register("shared/two", { addr: "10.0.9.2:80" }, { session });
      assert.equal(one.lease, session.lease);
      await one.close();
      assert.deepEqual([...(await manager.list()).keys()], ["shared/two"]);
      assert.equal(session.isDone, false);

      // Someone else took the key over (no lease): closing our registration leaves theirs.
      const three = await manager.register("shared/three", { addr: "10.0.9.3:80" }, { session });
      await manager.add("shared/three", { addr: "10.0.9.33:80" });
      await three.close();
      assert.deepEqual(plain(await manager.list()), {
        "shared/three": { addr: "10.0.9.33:80", metadata: null },
        "shared/two": { addr: "10.0.9.2:80", metadata: null },
      });

      // The session ending ends the registrations on it, and takes their keys.
      await session.close();
      assert.ok(ConcurrencyError.is(await two.done, "session_closed"));
      assert.deepEqual([...(await manager.list()).keys()], ["shared/three"]);
      await assert.rejects(
        manager.register("shared/four", { addr: "10.0.9.4:80" }, { session }),
        (error: unknown) => ConcurrencyError.is(error, "session_closed"),
      );
    } finally {
      await session.close();
    }
  });

  it("register with a signal: aborted before, nothing stays behind; aborted after, the endpoint goes", async () => {
    const manager = createEndpointManager(client, "sig");
    const leasesBefore = (await client.lease.leases()).leases.length;
    await assert.rejects(
      manager.register("sig/a", { addr: "10.0.10.1:80" }, { signal: AbortSignal.abort() }),
      (error: unknown) => EtcdError.is(error, "canceled"),
    );
    assert.equal((await manager.list()).size, 0);
    assert.equal((await client.lease.leases()).leases.length, leasesBefore);

    const stop = new AbortController();
    const registration = await manager.register("sig/b", { addr: "10.0.10.2:80" }, { signal: stop.signal });
    assert.equal((await manager.list()).size, 1);
    stop.abort();
    assert.ok(ConcurrencyError.is(await registration.done, "session_closed"));
    await registration.close(); // the close the abort started
    assert.equal((await manager.list()).size, 0);
  });

  it("register: done tells when the lease is gone (revoked here), and the endpoint is gone with it", async () => {
    const manager = createEndpointManager(client, "lost");
    const registration = await manager.register("lost/a", { addr: "10.0.11.1:80" }, { ttl: 5 });
    await client.lease.revoke(registration.lease);
    const why = await registration.done;
    assert.ok(EtcdError.is(why, "lease_not_found"), String(why));
    assert.equal((await manager.list()).size, 0);
    await registration.close();
  });
});
