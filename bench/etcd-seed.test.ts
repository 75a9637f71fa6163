import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Client, createClient } from "@etcd-connect/client";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { revokeLeases } from "./etcd-seed.js";

describe("revokeLeases against a real etcd", integrationOptions(), () => {
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

  it("leaves the member with no lease, kept or not, more of them than run at once", async () => {
    // 40 leases: more than the 32 revoked at a time. Some are kept alive, as a round leaves them.
    const ids = await Promise.all(Array.from({ length: 40 }, async () => (await client.lease.grant(60)).ID));
    const keepers = ids.slice(0, 5).map((id) => client.lease.keepAlive(id));
    try {
      assert.equal((await client.lease.leases()).leases.length, 40);
      await revokeLeases(client);
      assert.deepEqual((await client.lease.leases()).leases, []);
    } finally {
      await Promise.all(keepers.map((keeper) => keeper.close()));
    }
  });

  it("does nothing on a member with no lease", async () => {
    await revokeLeases(client);
    assert.deepEqual((await client.lease.leases()).leases, []);
  });
});
