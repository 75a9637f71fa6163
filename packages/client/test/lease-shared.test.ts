import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Client, createClient, type EtcdError } from "@etcd-connect/client";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";

// Several keepAlive(id) on one lease are independent, as in Go (lease.go keeps a channel per
// caller): closing one keeps the lease alive for the others, and `lost` settles for all.
describe("one lease kept by several keepers", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  before(async () => {
    etcd = await startEtcd();
    client = createClient({ endpoints: [etcd.clientUrl] });
  });
  after(async () => {
    await client?.close();
    await etcd?.close();
  });

  it("closing one keeper leaves the lease kept alive by the other, past its TTL", async () => {
    const { ID } = await client.lease.grant(2);
    const first = client.lease.keepAlive(ID);
    const second = client.lease.keepAlive(ID);
    let firstLost = false;
    void first.lost.then(() => {
      firstLost = true;
    });
    await first.close();
    // Six answers to the remaining keeper, a third of the TTL apart, span more than the TTL
    // since the first keeper closed: the lease must still be renewed.
    let answers = 0;
    for await (const answer of second) {
      assert.ok(answer.TTL > 0n);
      if (++answers === 6) break;
    }
    const ttl = await client.lease.timeToLive(ID);
    assert.ok(ttl.TTL > 0n, `the lease is alive (TTL ${ttl.TTL})`);
    assert.equal(firstLost, false, "a closed keeper's lost stays pending");
    await client.lease.revoke(ID);
  });

  it("a revoked lease is reported lost to every keeper", async () => {
    const { ID } = await client.lease.grant(10);
    const keepers = [client.lease.keepAlive(ID), client.lease.keepAlive(ID), client.lease.keepAlive(ID)];
    await client.lease.revoke(ID);
    const reasons = await Promise.all(keepers.map((k) => k.lost.then((e: EtcdError) => e.reason)));
    assert.deepEqual(reasons, ["lease_not_found", "lease_not_found", "lease_not_found"]);
  });
});
