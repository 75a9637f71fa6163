import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { type EtcdCluster, integrationOptions, requestJson, startCluster } from "@etcd-connect/testing";
import { eventually, get, put } from "./support.js";

describe("startCluster", integrationOptions(), () => {
  let cluster: EtcdCluster;

  before(async () => {
    cluster = await startCluster();
  });

  after(async () => {
    await cluster?.close();
  });

  it("starts three members behind fault proxies that agree on a leader", async () => {
    assert.equal(cluster.members.length, 3);
    assert.deepEqual(
      cluster.clientUrls,
      cluster.members.map((m) => m.clientUrl),
    );
    const ids = new Set<bigint>();
    for (const member of cluster.members) {
      assert.ok(member.clientProxy !== undefined && member.peerProxy !== undefined);
      assert.equal(member.clientUrl, `http://127.0.0.1:${member.clientProxy.port}`);
      assert.equal(member.peerUrl, `http://127.0.0.1:${member.peerProxy.port}`);
      assert.notEqual(member.clientUrl, member.directClientUrl);
      ids.add(await member.memberId());
    }
    assert.equal(ids.size, 3);
    const leader = await cluster.leader();
    assert.ok(cluster.members.includes(leader));
    await put(cluster.clientUrls[0] ?? "", "k", "v");
    for (const url of cluster.clientUrls) assert.equal(await get(url, "k"), "v");
  });

  it("a black-holed client link times out while other members answer; heal restores it", async () => {
    const [victim, other] = cluster.members;
    assert.ok(victim?.clientProxy !== undefined && other !== undefined);
    victim.clientProxy.blackhole();
    try {
      await assert.rejects(get(victim.clientUrl, "k", { timeoutMs: 500 }), /timed out/);
      assert.equal(await get(other.clientUrl, "k"), "v");
      // The member itself is fine: only the link is cut.
      assert.equal(await get(victim.directClientUrl, "k"), "v");
    } finally {
      victim.clientProxy.heal();
    }
    assert.equal(await get(victim.clientUrl, "k"), "v");
  });

  it("reset() closes client connections through the proxy", async () => {
    const member = cluster.members[1];
    assert.ok(member?.clientProxy !== undefined);
    const proxy = member.clientProxy;
    const socket = connect({ host: "127.0.0.1", port: proxy.port });
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    socket.on("error", () => undefined);
    await new Promise((resolve) => socket.once("connect", resolve));
    await eventually(async () => (proxy.connections > 0 ? true : undefined), "proxied connection");
    proxy.reset();
    await closed;
    await eventually(async () => (proxy.connections === 0 ? true : undefined), "no proxied connections");
    assert.equal(await get(member.clientUrl, "k"), "v");
  });

  it("delay() slows the link but requests still complete in order", async () => {
    const member = cluster.members[2];
    assert.ok(member?.clientProxy !== undefined);
    member.clientProxy.delay(100);
    try {
      await put(member.clientUrl, "slow", "1");
      await put(member.clientUrl, "slow", "2");
      assert.equal(await get(member.clientUrl, "slow", { timeoutMs: 10_000 }), "2");
    } finally {
      member.clientProxy.heal();
    }
  });

  it("kill + restart of the leader: the others elect a new one, data survives", async () => {
    const oldLeader = await cluster.leader();
    await put(oldLeader.clientUrl, "before", "crash");
    await oldLeader.kill();
    const newLeader = await eventually(async () => {
      const leader = await cluster.leader({ timeoutMs: 1000 });
      return leader === oldLeader ? undefined : leader;
    }, "a new leader");
    await put(newLeader.clientUrl, "during", "outage");
    await oldLeader.restart();
    await cluster.waitHealthy();
    assert.equal(await eventually(() => get(oldLeader.clientUrl, "during"), "catch-up"), "outage");
    assert.equal(await get(oldLeader.clientUrl, "before"), "crash");
    const status = (await requestJson(`${oldLeader.clientUrl}/v3/maintenance/status`)) as { leader?: string };
    assert.notEqual(status.leader ?? "0", "0");
  });
});
