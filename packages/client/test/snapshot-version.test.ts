import assert from "node:assert/strict";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type Client, createClient } from "@etcd-connect/client";
import { type EtcdCluster, type EtcdMember, integrationOptions, startCluster } from "@etcd-connect/testing";

// snapshotToFile says which etcd version sent the snapshot. etcd 3.4's stream carries no version,
// so the client asks a member's Status and takes the snapshot from that same member.

// etcd logs this on the member that streams a snapshot.
const snapshotLog = /sending database snapshot to client/g;
const snapshotsSent = (member: EtcdMember) => member.logTail().match(snapshotLog)?.length ?? 0;

// The member's version from its own HTTP endpoint, not through the client under test.
async function versionOf(member: EtcdMember): Promise<string> {
  const res = await fetch(`${member.directClientUrl}/version`);
  return ((await res.json()) as { etcdserver: string }).etcdserver;
}

describe("snapshotToFile reports the member's etcd version", integrationOptions(), () => {
  let cluster: EtcdCluster;
  let client: Client;
  let dir: string;
  before(async () => {
    [cluster, dir] = await Promise.all([
      startCluster({ size: 3 }),
      mkdtemp(join(tmpdir(), "etcd-connect-snapshot-version-")),
    ]);
    client = createClient({ endpoints: cluster.clientUrls });
    await client.put("snapshot/k", "v");
  });
  after(async () => {
    await client?.close();
    await cluster?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("takes the snapshot from the member it asked, round after round", async () => {
    const members = new Map<bigint, EtcdMember>();
    for (const member of cluster.members) members.set(await member.memberId(), member);
    const served = new Set<bigint>();
    for (let round = 0; round < 3; round++) {
      const before = new Map(cluster.members.map((m) => [m, snapshotsSent(m)]));
      const path = join(dir, `round-${round}.db`);
      const saved = await client.maintenance.snapshotToFile(path);
      const sender = members.get(saved.memberId);
      assert.ok(sender !== undefined, `member ${saved.memberId.toString(16)} is not in the cluster`);
      served.add(saved.memberId);
      assert.equal(saved.size, (await stat(path)).size);
      assert.equal(saved.version, await versionOf(sender));
      assert.equal(saved.storageVersion, undefined, "etcd 3.4 states no storage version");
      // etcd's log reaches us through a pipe of its own, maybe after the snapshot's last byte.
      const sentSince = (member: EtcdMember) => snapshotsSent(member) - (before.get(member) ?? 0);
      const giveUpAt = Date.now() + 5_000;
      while (cluster.members.every((m) => sentSince(m) === 0) && Date.now() < giveUpAt) await sleep(20);
      for (const member of cluster.members) {
        const sent = sentSince(member);
        assert.equal(sent, member === sender ? 1 : 0, `${member.name} sent ${sent} snapshots`);
      }
    }
    console.log(`  figure: 3 snapshots came from ${served.size} members`);
  });

  it("uses the member named by endpoint", async () => {
    const member = cluster.members[2] as EtcdMember;
    const saved = await client.maintenance.snapshotToFile(join(dir, "named.db"), {
      endpoint: member.clientUrl,
    });
    assert.equal(saved.memberId, await member.memberId());
    assert.equal(saved.version, await versionOf(member));
  });
});
