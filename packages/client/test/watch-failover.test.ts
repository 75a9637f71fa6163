import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { createClient, EtcdError } from "@etcd-connect/client";
import { type EtcdCluster, type EtcdMember, integrationOptions } from "@etcd-connect/testing";
import { useFaultCluster, waitFor } from "./load.js";
import { metric, strictlyIncreasing } from "./watch-helpers.js";

// Enough writes that the stream is busy before, during and after the fault (the fault comes at a
// fifth of them).
const keys = 5000;

type Fault = (cluster: EtcdCluster, member: EtcdMember) => Promise<void>;

const faults: Array<[string, Fault]> = [
  ["killed", (_, m) => m.kill()],
  ["paused", async (_, m) => m.pause()],
  ["isolated from its peers", (c, m) => c.isolate(m)],
  ["black-holed", async (_, m) => m.clientProxy?.blackhole()],
];

describe("watch across member failures on a real 3-member cluster", integrationOptions(), () => {
  const suite = useFaultCluster();
  let cluster: EtcdCluster;
  before(() => {
    cluster = suite.cluster;
  });

  for (const [name, fault] of faults) {
    it(`the member carrying the stream is ${name}: every revision exactly once, in order`, async () => {
      const prefix = `wf-${name.split(" ")[0]}/`;
      await using watching = createClient({ endpoints: cluster.clientUrls, watchSilenceMs: 1000 });
      await using writing = createClient({ endpoints: cluster.clientUrls });
      const watcher = watching.watch(prefix, { prefix: true });
      await watcher.ready;
      let carrier: EtcdMember | undefined;
      for (const member of cluster.members) {
        if ((await metric(member, "etcd_debugging_mvcc_watch_stream_total")) > 0) carrier = member;
      }
      assert.ok(carrier, "found the member carrying the watch stream");
      let written = 0;
      let faulted = false;
      const writer = (async () => {
        const next = { n: 0 };
        await Promise.all(
          Array.from({ length: 16 }, async () => {
            for (let n = next.n++; n < keys; n = next.n++) {
              await writing.put(`${prefix}${n}`, "v", { timeoutMs: 10_000 }).catch((e: unknown) => {
                // A write cut off by the fault may or may not be in the store: checked below.
                assert.ok(e instanceof EtcdError && e.indeterminate, String(e));
              });
              written++;
              if (!faulted && written >= keys / 5) {
                faulted = true;
                await fault(cluster, carrier as EtcdMember);
              }
            }
          }),
        );
      })();
      const seen: bigint[] = [];
      const collecting = (async () => {
        for await (const batch of watcher) {
          for (const event of batch.events) seen.push(event.kv?.modRevision ?? -1n);
          if (seen.length >= keys) break;
        }
      })();
      await writer;
      // Whatever the store holds under the prefix is what the watcher must have delivered.
      const stored: bigint[] = [];
      for await (const page of writing.getAll(prefix)) for (const kv of page.kvs) stored.push(kv.modRevision);
      stored.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      await waitFor(
        () => seen.length >= stored.length,
        30_000,
        `${stored.length} events (have ${seen.length})`,
      );
      await watcher.close();
      await collecting;
      console.log(`  figure (${name}): ${seen.length} events delivered for ${stored.length} stored keys`);
      assert.ok(strictlyIncreasing(seen), "unique and in order");
      assert.deepEqual(seen, stored);
    });
  }

  it("no busy loop while every member is down", async () => {
    await using client = createClient({ endpoints: cluster.clientUrls });
    const watcher = client.watch("down/", { prefix: true });
    await watcher.ready;
    for (const member of cluster.members) member.clientProxy?.blackhole();
    for (const member of cluster.members) member.clientProxy?.reset();
    const before = process.cpuUsage();
    const started = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const used = process.cpuUsage(before);
    const share = (used.user + used.system) / 1000 / (Date.now() - started);
    console.log(`  figure: ${(share * 100).toFixed(1)}% of a core while every member was unreachable`);
    assert.ok(share < 0.2, `CPU share ${share}`);
    await watcher.close();
  });
});
