import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Client, createClient } from "@etcd-connect/client";
import { createSession } from "@etcd-connect/concurrency";
import { createEndpointManager } from "@etcd-connect/discovery";
import { namespace } from "@etcd-connect/namespace";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { plain, Snapshots, stored } from "./helpers.js";

describe("endpoint managers inside a namespace", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  const watches: Snapshots[] = [];

  before(async () => {
    etcd = await startEtcd();
    client = createClient({ endpoints: [etcd.clientUrl] });
  });
  after(async () => {
    for (const snapshots of watches) await snapshots.close();
    await client?.close();
    await etcd?.close();
  });

  it("add, update, register, list and watch keep every key under the namespace", async () => {
    const acme = namespace(client, "tenants/acme/");
    const manager = createEndpointManager(acme, "billing");
    const snapshots = new Snapshots(manager);
    watches.push(snapshots);
    assert.equal((await snapshots.next()).endpoints.size, 0);

    await manager.add("billing/a", { addr: "10.3.0.1:80" });
    await manager.update([
      { op: "add", key: "billing/b", endpoint: { addr: "10.3.0.2:80", metadata: { w: 1 } } },
    ]);
    await using session = await createSession(acme, { ttl: 10 });
    const registration = await manager.register("billing/c", { addr: "10.3.0.3:80" }, { session });

    // The namespace's view: keys without its prefix.
    const expected = {
      "billing/a": { addr: "10.3.0.1:80", metadata: null },
      "billing/b": { addr: "10.3.0.2:80", metadata: { w: 1 } },
      "billing/c": { addr: "10.3.0.3:80", metadata: null },
    };
    assert.deepEqual(plain(await manager.list()), expected);
    const seen = await snapshots.until((s) => s.endpoints.size === 3);
    assert.deepEqual(plain(seen.endpoints), expected);
    // Snapshot revisions are the store's: the plain client reads the same set at that revision.
    assert.deepEqual(
      [...(await stored(client, "tenants/acme/billing/", seen.revision)).keys()],
      ["tenants/acme/billing/a", "tenants/acme/billing/b", "tenants/acme/billing/c"],
    );

    // etcd's view: everything under the namespace, nothing outside it.
    assert.deepEqual([...(await stored(client, "billing/")).keys()], []);
    const outside = createEndpointManager(client, "tenants/acme/billing");
    assert.deepEqual(
      plain(await outside.list()),
      Object.fromEntries(Object.entries(expected).map(([key, value]) => [`tenants/acme/${key}`, value])),
    );
    assert.equal((await client.get("tenants/acme/billing/c")).kvs[0]?.lease, session.lease);

    // Another tenant sees none of it.
    assert.equal((await createEndpointManager(namespace(client, "tenants/zeta/"), "billing").list()).size, 0);

    await registration.close();
    await manager.delete("billing/a");
    const after = await snapshots.until((s) => s.endpoints.size === 1);
    assert.deepEqual([...after.endpoints.keys()], ["billing/b"]);
    assert.deepEqual([...(await stored(client, "tenants/acme/")).keys()], ["tenants/acme/billing/b"]);
  });

  it("a registration in a namespace grants its lease there and revokes it on close", async () => {
    const manager = createEndpointManager(namespace(client, "tenants/acme/"), "search");
    const registration = await manager.register("search/a", { addr: "10.3.1.1:80" }, { ttl: 5 });
    assert.equal((await client.get("tenants/acme/search/a")).kvs[0]?.lease, registration.lease);
    await registration.close();
    assert.equal((await client.get("tenants/acme/search/", { prefix: true, countOnly: true })).count, 0n);
    assert.equal((await client.lease.timeToLive(registration.lease)).TTL, -1n);
  });
});
