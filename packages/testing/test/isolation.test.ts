import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type EtcdCluster, integrationOptions, startCluster } from "@etcd-connect/testing";
import { eventually, get, put } from "./support.js";

describe("EtcdCluster.isolate", integrationOptions(), () => {
  let cluster: EtcdCluster;

  before(async () => {
    cluster = await startCluster({ name: "iso" });
  });

  after(async () => {
    await cluster?.close();
  });

  it("cuts the leader off from its peers; the rest elect a leader and serve writes; heal converges", async () => {
    const victim = await cluster.leader();
    const others = cluster.members.filter((member) => member !== victim);
    await put(victim.clientUrl, "before", "isolation");
    await cluster.isolate(victim);
    try {
      assert.deepEqual(cluster.isolated, [victim]);
      // check-quorum makes the isolated leader step down; it then knows no leader.
      await eventually(
        async () => ((await victim.status()).leader === 0n ? true : undefined),
        "victim without leader",
      );
      const newLeader = await eventually(async () => {
        const leader = await cluster.leader({ timeoutMs: 1000 });
        return others.includes(leader) ? leader : undefined;
      }, "a leader among the others");
      await put(newLeader.clientUrl, "during", "isolation");
      for (const member of others) assert.equal(await get(member.clientUrl, "during"), "isolation");
      // Clients still reach the isolated member, but it cannot serve a linearizable read.
      await assert.rejects(get(victim.clientUrl, "during", { timeoutMs: 1500 }));
    } finally {
      cluster.heal();
    }
    assert.deepEqual(cluster.isolated, []);
    await cluster.waitHealthy();
    assert.equal(await eventually(() => get(victim.clientUrl, "during"), "victim catches up"), "isolation");
    const leaders = await Promise.all(cluster.members.map(async (member) => (await member.status()).leader));
    assert.equal(new Set(leaders).size, 1);
  });

  it("isolating a follower leaves the leader in place", async () => {
    const leader = await cluster.leader();
    const follower = cluster.members.find((member) => member !== leader);
    assert.ok(follower !== undefined);
    await cluster.isolate(follower);
    try {
      await eventually(
        async () => ((await follower.status()).leader === 0n ? true : undefined),
        "follower without leader",
      );
      assert.equal(await cluster.leader(), leader);
      await put(leader.clientUrl, "follower", "cut");
      assert.equal(await get(leader.clientUrl, "follower"), "cut");
      await assert.rejects(get(follower.clientUrl, "follower", { timeoutMs: 1500 }));
    } finally {
      cluster.heal();
    }
    await cluster.waitHealthy();
    assert.equal(await eventually(() => get(follower.clientUrl, "follower"), "follower catches up"), "cut");
  });
});
