import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createClient } from "@etcd-connect/client";
import { type EtcdCluster, integrationOptions, startCluster } from "@etcd-connect/testing";
import { waitFor } from "./load.js";

describe("balancing and endpoint discovery on a real cluster", integrationOptions(), () => {
  let cluster: EtcdCluster;
  before(async () => {
    cluster = await startCluster({ size: 3, faults: false });
  });
  after(async () => {
    await cluster?.close();
  });

  async function answeringMembers(balancer: "round-robin" | "pinned"): Promise<Set<bigint>> {
    await using client = createClient({ endpoints: cluster.clientUrls, balancer });
    const members = new Set<bigint>();
    for (let i = 0; i < 30; i++) {
      const res = await client.get("b/k", { serializable: true });
      members.add(res.header?.memberId ?? 0n);
    }
    return members;
  }

  it("round-robin spreads calls over every member", async () => {
    assert.equal((await answeringMembers("round-robin")).size, 3);
  });

  it("pinned stays on one member while it works", async () => {
    assert.equal((await answeringMembers("pinned")).size, 1);
  });

  it("sync() replaces the endpoints with the started members' client URLs", async () => {
    await using client = createClient({ endpoints: [cluster.clientUrls[0] ?? ""] });
    const synced = await client.sync();
    assert.deepEqual([...synced].sort(), cluster.clientUrls.map((u) => new URL(u).origin).sort());
    assert.deepEqual(client.endpoints, synced);
  });

  it("autoSyncIntervalMs discovers the other members", async () => {
    await using client = createClient({ endpoints: [cluster.clientUrls[1] ?? ""], autoSyncIntervalMs: 100 });
    await waitFor(() => client.endpoints.length === 3, 5000, "three endpoints");
    assert.equal(client.endpoints.length, 3);
  });
});

describe("per-member calls", integrationOptions(), () => {
  let cluster: EtcdCluster;
  before(async () => {
    cluster = await startCluster({ size: 3, faults: false });
  });
  after(async () => {
    await cluster?.close();
  });

  it("rpcAt(endpoint) sends every call to that member", async () => {
    await using client = createClient({ endpoints: cluster.clientUrls });
    for (const member of cluster.members) {
      const id = await member.memberId();
      for (let i = 0; i < 3; i++) {
        const status = await client.rpcAt(member.clientUrl).maintenance.status({});
        assert.equal(status.header?.memberId, id);
      }
    }
  });

  it("rpcAt refuses an endpoint the client does not have", async () => {
    await using client = createClient({ endpoints: cluster.clientUrls });
    await assert.rejects(
      client.rpcAt("http://127.0.0.1:1").maintenance.status({}),
      /not one of the client's endpoints/,
    );
  });
});
