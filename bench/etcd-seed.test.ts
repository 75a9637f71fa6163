import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Client, createClient, opPut } from "@etcd-connect/client";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { compact, revokeLeases, writeBacklog } from "./etcd-seed.js";
import { backlogPrefix } from "./workloads.js";

describe("compact, revokeLeases and writeBacklog against a real etcd", integrationOptions(), () => {
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

  it("compact returns once etcd has deleted the history, not when it has scheduled that", async () => {
    // 32,768 revisions of 256 bytes over 128 keys: etcd deletes them 1,000 at a time, 10 ms apart.
    const value = Buffer.alloc(256, "h");
    const keys = Array.from({ length: 128 }, (_, i) => `history/${i}`);
    for (let i = 0; i < 256; i++) {
      await client
        .txn()
        .then(...keys.map((key) => opPut(key, value)))
        .commit();
    }
    const before = (await client.maintenance.status(etcd.clientUrl)).dbSizeInUse;
    await compact(client);
    const afterCompact = (await client.maintenance.status(etcd.clientUrl)).dbSizeInUse;
    // The history is some 8 MiB of values; what stays is the last revision of each key.
    assert.ok(
      before - afterCompact > 4n * 1024n * 1024n,
      `in use: ${before} bytes before the compaction, ${afterCompact} after it`,
    );
  });

  it("writes a backlog whose events all follow the revision it returns, one revision per txn", async () => {
    await client.put("before-the-backlog", "x");
    const params = { revisions: 40, batch: 8, keys: 50, valueBytes: 16 };
    const { startRevision, events } = await writeBacklog(client, params);
    assert.equal(events, 320);
    const head = (await client.get("k/0", { countOnly: true })).header?.revision;
    assert.equal(head, BigInt(startRevision + params.revisions - 1));
    // Every event from startRevision on is the backlog's: the watch's count ends at `events`.
    const watcher = client.watch(backlogPrefix, { prefix: true, startRevision: BigInt(startRevision) });
    let seen = 0;
    const revisions = new Set<bigint>();
    try {
      for await (const batch of watcher) {
        for (const event of batch.events) {
          seen++;
          revisions.add(event.kv?.modRevision ?? 0n);
          assert.equal(event.kv?.value.length, params.valueBytes);
        }
        if (seen >= events) break;
      }
    } finally {
      await watcher.close();
    }
    assert.equal(seen, events);
    assert.equal(revisions.size, params.revisions);
    assert.equal(Math.min(...[...revisions].map(Number)), startRevision);
  });

  it("does nothing on a member with no lease", async () => {
    await revokeLeases(client);
    assert.deepEqual((await client.lease.leases()).leases, []);
  });
});
