import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { bytesToText, createClient, EtcdError } from "@etcd-connect/client";
import { type EtcdCluster, type EtcdMember, integrationOptions } from "@etcd-connect/testing";
import { createMirror } from "../src/mirror/create-mirror.js";
import type { MirrorStatus } from "../src/mirror/mirror.js";
import { useFaultCluster, waitFor } from "./load.js";
import { metric, strictlyIncreasing } from "./watch-helpers.js";

const writes = 1500;

describe("mirror across a member failure on a real 3-member cluster", integrationOptions(), () => {
  const suite = useFaultCluster();
  let cluster: EtcdCluster;
  before(() => {
    cluster = suite.cluster;
  });

  it("the member carrying the mirror's watch is killed: no update missed, none repeated, no resync", async () => {
    await using following = createClient({ endpoints: cluster.clientUrls, watchSilenceMs: 1000 });
    await using writing = createClient({ endpoints: cluster.clientUrls });
    for (let i = 0; i < 50; i++) await writing.put(`mf/${i % 10}`, "seed");
    await using mirror = createMirror(following, "mf/", { decode: bytesToText });
    const reader = mirror.changes();
    await mirror.ready;
    await waitFor(() => mirror.status.state === "live", 10_000, "the mirror live");
    let carrier: EtcdMember | undefined;
    for (const member of cluster.members) {
      if ((await metric(member, "etcd_debugging_mvcc_watch_stream_total")) > 0) carrier = member;
    }
    assert.ok(carrier, "found the member carrying the watch stream");
    const states: MirrorStatus["state"][] = [];
    const tracking = (async () => {
      for (let s = mirror.status; s.state !== "closed"; s = await mirror.statusChanged())
        states.push(s.state);
    })();

    // 8 writers over 100 keys, each key rewritten many times: a missed or repeated event would
    // leave a wrong value or a wrong chain of previous values.
    let next = 0;
    let killed = false;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let n = next++; n < writes; n = next++) {
          await writing.put(`mf/${n % 100}`, String(n), { timeoutMs: 10_000 }).catch((e: unknown) => {
            // A write cut off by the kill may or may not be in the store: the comparison below holds either way.
            assert.ok(e instanceof EtcdError && e.indeterminate, String(e));
          });
          if (!killed && n >= writes / 4) {
            killed = true;
            await carrier.kill();
          }
        }
      }),
    );
    const store = new Map<string, [string, bigint]>();
    let revision = 0n;
    for await (const page of writing.getAll("mf/")) {
      revision = page.header?.revision ?? 0n;
      for (const kv of page.kvs) store.set(bytesToText(kv.key), [bytesToText(kv.value), kv.modRevision]);
    }
    const lastWrite = [...store.values()].reduce((max, [, rev]) => (rev > max ? rev : max), 0n);
    await waitFor(() => mirror.revision >= lastWrite, 30_000, `the mirror at revision ${lastWrite}`);

    // Every change the reader saw, key by key: each one's previous value is the one before it.
    const kinds = new Set<string>();
    let listed = 0n;
    const revisions: bigint[] = [];
    const chains = new Map<string, string>();
    let broken = 0;
    for (;;) {
      const batch = (await reader.next()).value;
      assert.ok(batch);
      kinds.add(batch.kind);
      if (batch.kind === "initial") listed = batch.revision;
      for (const change of batch.changes) {
        const key = bytesToText(change.key);
        if (change.prevValue !== chains.get(key)) broken++;
        if (change.type === "put") chains.set(key, change.value);
        else chains.delete(key);
        if (batch.kind === "events") revisions.push(change.modRevision);
      }
      if (batch.revision >= lastWrite) break;
    }
    const mirrored = new Map<string, [string, bigint]>();
    for (const entry of mirror.entries())
      mirrored.set(bytesToText(entry.key), [entry.value, entry.modRevision]);
    console.log(
      `  figure: ${revisions.length} changes followed across the kill of ${carrier.name}; mirror states ${states.join(" > ")}; store at revision ${revision}`,
    );
    assert.deepEqual([...kinds].sort(), ["events", "initial"]);
    assert.equal(broken, 0, "every change's previous value is the value the mirror had");
    assert.ok(strictlyIncreasing(revisions), "each revision once, in order");
    // Only this test writes to the cluster: every revision after the list is one of its puts.
    assert.equal(BigInt(revisions.length), lastWrite - listed, "a change for every revision after the list");
    assert.deepEqual(
      [...mirrored].sort(([a], [b]) => (a < b ? -1 : 1)),
      [...store].sort(([a], [b]) => (a < b ? -1 : 1)),
    );
    assert.deepEqual(
      [...chains].sort(([a], [b]) => (a < b ? -1 : 1)),
      [...store].map(([key, [value]]) => [key, value]).sort(([a], [b]) => ((a ?? "") < (b ?? "") ? -1 : 1)),
    );
    await mirror.close();
    await tracking;
  });
});
