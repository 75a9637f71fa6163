import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { bytesToText, createClient, EtcdError, opGet } from "@etcd-connect/client";
import { type EtcdCluster, type EtcdMember, integrationOptions, startCluster } from "@etcd-connect/testing";

// A call's own requireLeader (Go's clientv3.WithRequireLeader per context) against a member cut
// off from its leader: etcd refuses "hasleader" calls there with "no leader".

const noLeader = (error: unknown) => EtcdError.is(error, "no_leader");

// Bounded wait for a member to lose its leader (one election timeout after isolation).
async function waitLeaderless(member: EtcdMember, timeoutMs = 15_000): Promise<void> {
  const giveUpAt = Date.now() + timeoutMs;
  for (;;) {
    const status = await member.status().catch(() => undefined);
    if (status?.leader === 0n) return;
    if (Date.now() > giveUpAt) throw new Error(`${member.name} still knows a leader after ${timeoutMs} ms`);
    await sleep(100);
  }
}

describe("per-call requireLeader", integrationOptions(), () => {
  let cluster: EtcdCluster;
  let cutOff: EtcdMember;
  before(async () => {
    cluster = await startCluster({ size: 3 });
    await using seed = createClient({ endpoints: cluster.clientUrls });
    await seed.put("rl/k", "v");
    const leader = await cluster.leader();
    cutOff = cluster.members.find((m) => m !== leader) as EtcdMember;
    // The member to cut off has applied the write (a follower applies it a moment later).
    await using local = createClient({ endpoints: [cutOff.clientUrl] });
    const giveUpAt = Date.now() + 10_000;
    while ((await local.getText("rl/k", { serializable: true })) !== "v") {
      if (Date.now() > giveUpAt) throw new Error(`${cutOff.name} did not apply the write within 10 s`);
      await sleep(50);
    }
    await cluster.isolate(cutOff);
    await waitLeaderless(cutOff);
  });
  after(async () => {
    await cluster?.close();
  });

  it("false lets a serializable read through where the client requires a leader", async () => {
    await using client = createClient({ endpoints: [cutOff.clientUrl], retry: false });
    await assert.rejects(client.get("rl/k", { serializable: true }), noLeader);
    const res = await client.get("rl/k", { serializable: true, requireLeader: false });
    assert.equal(bytesToText(res.kvs[0]?.value ?? new Uint8Array()), "v");
    const viaDo = await client.do(opGet("rl/k", { serializable: true }), { requireLeader: false });
    assert.equal(viaDo.response.count, 1n);
    const status = await client.maintenance.status(cutOff.clientUrl, { requireLeader: false });
    assert.equal(status.leader, 0n);
  });

  it("true refuses where the client does not require a leader", async () => {
    await using client = createClient({ endpoints: [cutOff.clientUrl], retry: false, requireLeader: false });
    assert.equal(await client.getText("rl/k", { serializable: true }), "v");
    await assert.rejects(client.get("rl/k", { serializable: true, requireLeader: true }), noLeader);
    await assert.rejects(client.maintenance.status(cutOff.clientUrl, { requireLeader: true }), noLeader);
  });

  it("refuses a requireLeader that is not a boolean, before anything is sent", async () => {
    await using client = createClient({ endpoints: [cutOff.clientUrl], retry: false });
    await assert.rejects(
      client.get("rl/k", { requireLeader: "no" as unknown as boolean }),
      (error: unknown) => EtcdError.is(error, "invalid_argument"),
    );
  });
});
