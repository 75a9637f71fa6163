import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { type Client, createClient, EtcdError } from "@etcd-connect/client";
import {
  createEndpointManager,
  decodeEndpoint,
  type Endpoint,
  type EndpointSnapshot,
} from "@etcd-connect/discovery";
import { type EtcdCluster, type EtcdMember, integrationOptions, startCluster } from "@etcd-connect/testing";
import { plain, Snapshots, stored, waitFor } from "./helpers.js";

// Changes made while the fault happens: enough that the watch is busy before, during and after it.
const changes = 120;
const faultAfter = 30;

type Fault = (member: EtcdMember) => Promise<void>;

const faults: Array<[string, Fault]> = [
  ["killed", (m) => m.kill()],
  ["paused", (m) => m.pause()],
];

/** A gauge from a member's /metrics, summed over label sets. */
async function metric(member: EtcdMember, name: string): Promise<number> {
  const body = await (await fetch(`${member.directClientUrl}/metrics`)).text();
  let total = 0;
  for (const line of body.split("\n")) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) total += Number(line.split(" ").pop());
  }
  return total;
}

describe("endpoint watch across member failures on a 3-member cluster", integrationOptions(), () => {
  let cluster: EtcdCluster;
  const clients: Client[] = [];
  const watches: Snapshots[] = [];

  before(async () => {
    cluster = await startCluster({ size: 3 });
  });
  afterEach(async () => {
    for (const snapshots of watches.splice(0)) await snapshots.close();
    for (const client of clients.splice(0)) await client.close();
    for (const member of cluster.members) {
      if (member.paused) member.resume();
      if (!member.running) await member.restart();
    }
    await cluster.waitHealthy();
  });
  after(async () => {
    await cluster?.close();
  });

  for (const [name, fault] of faults) {
    it(`the member serving the watch is ${name}: every snapshot is the store at its revision`, async () => {
      const target = `fo-${name}`;
      const watching = createClient({ endpoints: cluster.clientUrls, watchSilenceMs: 1000 });
      clients.push(watching);
      const snapshots = new Snapshots(createEndpointManager(watching, target));
      watches.push(snapshots);
      const seen: EndpointSnapshot[] = [await snapshots.next()];
      // The next snapshot comes from the watch: once it is there, the stream is open.
      await createEndpointManager(watching, target).add(`${target}/start`, { addr: "10.4.0.0:80" });
      seen.push(await snapshots.next());

      // The one member with a watch stream open serves ours (the previous test's streams may take
      // a moment to close on their members).
      let carrier: EtcdMember | undefined;
      await waitFor(
        async () => {
          const serving: EtcdMember[] = [];
          for (const member of cluster.members) {
            if ((await metric(member, "etcd_debugging_mvcc_watch_stream_total")) > 0) serving.push(member);
          }
          carrier = serving.length === 1 ? serving[0] : undefined;
          return carrier !== undefined;
        },
        10_000,
        "exactly one member serving a watch stream",
      );
      assert.ok(carrier !== undefined);
      // Writes go to the other members, so that the fault tests the watch, not the writer.
      const writing = createClient({
        endpoints: cluster.members.filter((m) => m !== carrier).map((m) => m.clientUrl),
      });
      clients.push(writing);
      const manager = createEndpointManager(writing, target);

      const end = `${target}/end`;
      const reading = (async () => {
        for (;;) {
          const snapshot = await snapshots.next();
          seen.push(snapshot);
          if (snapshot.endpoints.has(end)) return;
        }
      })();
      let failed = 0;
      for (let i = 0; i < changes; i++) {
        if (i === faultAfter) await fault(carrier);
        const key = `${target}/${i % 10}`;
        const write =
          i % 3 === 2
            ? manager.delete(key, { timeoutMs: 10_000 })
            : manager.add(key, { addr: `10.4.0.${i}:80` }, { timeoutMs: 10_000 });
        // A write cut off by the fault (the leader may be the member at fault) may or may not have
        // been applied; the snapshots are checked against the store, not against the writes.
        await write.catch((error: unknown) => {
          assert.ok(error instanceof EtcdError, String(error));
          failed++;
        });
      }
      await manager.add(end, { addr: "10.4.1.0:80" });
      await reading;

      console.log(
        `  figure (${name}): ${seen.length} snapshots for ${changes} changes, ${failed} writes failed during the fault`,
      );
      for (let i = 1; i < seen.length; i++) {
        assert.ok(
          (seen[i] as EndpointSnapshot).revision > (seen[i - 1] as EndpointSnapshot).revision,
          "revisions increase",
        );
      }
      // A missed event would leave some snapshot different from the store at its revision.
      for (const snapshot of seen) {
        const expected: Record<string, Endpoint> = {};
        for (const [key, value] of await stored(writing, `${target}/`, snapshot.revision)) {
          expected[key] = decodeEndpoint(value) as Endpoint;
        }
        assert.deepEqual(plain(snapshot.endpoints), expected, `snapshot at revision ${snapshot.revision}`);
      }
      assert.deepEqual(
        plain((seen[seen.length - 1] as EndpointSnapshot).endpoints),
        plain(await manager.list()),
      );
    });
  }
});
