import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Client, createClient } from "@etcd-connect/client";
import { type Namespace, namespace } from "@etcd-connect/namespace";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { eventsUntil, metric, waitFor } from "./helpers.js";

const watchers = "etcd_debugging_mvcc_watcher_total";

describe("watching a namespace", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  let a: Namespace;
  let b: Namespace;

  before(async () => {
    etcd = await startEtcd();
    client = createClient({ endpoints: [etcd.clientUrl] });
    a = namespace(client, "tenants/a/");
    b = namespace(client, "tenants/b/");
  });
  after(async () => {
    await client?.close();
    await etcd?.close();
  });

  it("a prefix watch sees only its tenant, keys and previous keys stripped", async () => {
    await using watcher = a.watch("jobs/", { prefix: true, prevKv: true });
    await watcher.ready; // writes below happen after etcd registered the watch
    await b.put("jobs/1", "b");
    await client.put("tenants/a/jobs", "outside the watched prefix");
    await a.put("jobs/1", "1");
    await a.put("jobs/1", "2");
    await b.delete("jobs/1");
    await a.delete("jobs/1");
    await a.put("jobs/end", "");
    assert.deepEqual(await eventsUntil(watcher, "jobs/end"), [
      "put jobs/1=1",
      "put jobs/1=2 (prev jobs/1=1)",
      "delete jobs/1 (prev jobs/1=2)",
      "put jobs/end=",
    ]);
  });

  it("a from-key watch stops at the end of its tenant", async () => {
    await using watcher = a.watch("m", { fromKey: true });
    await watcher.ready;
    await a.put("l", "before the key");
    await b.put("x", "other tenant");
    await client.put("tenants/a0", "just past the prefix");
    await client.put("zzz", "end of the keyspace");
    await a.put("x", "1");
    await a.put("z-end", "");
    assert.deepEqual(await eventsUntil(watcher, "z-end"), ["put x=1", "put z-end="]);
  });

  it("an all-keys watch sees every key of its tenant and nothing else", async () => {
    await using watcher = b.watch("", { prefix: true });
    await watcher.ready;
    await a.put("k", "a");
    await client.put("tenants/b", "the bare name");
    await b.put("k", "b");
    await b.put("end", "");
    assert.deepEqual(await eventsUntil(watcher, "end"), ["put k=b", "put end="]);
  });

  it("replays history from a start revision, stripped", async () => {
    const first = await a.put("history", "1");
    await b.put("history", "other");
    await a.put("history", "2");
    await using watcher = a.watch("history", { startRevision: first.header?.revision ?? 0n });
    const events: string[] = [];
    for await (const batch of watcher) {
      for (const e of batch.events)
        events.push(`${new TextDecoder().decode(e.kv?.key)}=${new TextDecoder().decode(e.kv?.value)}`);
      if (events.length >= 2) break;
    }
    assert.deepEqual(events, ["history=1", "history=2"]);
  });

  it("progress notifications pass through", async () => {
    await using watcher = a.watch("progress/", { prefix: true, progressNotify: true });
    await watcher.ready;
    const put = await client.put("elsewhere", "v");
    await a.requestProgress();
    for await (const batch of watcher) {
      assert.equal(batch.progress, true);
      assert.deepEqual(batch.events, []);
      assert.ok(batch.revision >= (put.header?.revision ?? 0n));
      break;
    }
  });

  it("nested namespaces watch the joined prefix", async () => {
    const nested = namespace(namespace(client, "org/"), "team/");
    await using watcher = nested.watch("", { fromKey: true, prevKv: true });
    await watcher.ready;
    await client.put("org/other/k", "sibling");
    await client.put("org/team0", "just past the prefix");
    await client.put("org/team/k", "1");
    await namespace(client, "org/team/").put("k", "2");
    await nested.put("end", "");
    assert.deepEqual(await eventsUntil(watcher, "end"), ["put k=1", "put k=2 (prev k=1)", "put end="]);
  });

  it("leaving the loop, close() and dispose cancel the watch on the server", async () => {
    // Earlier tests' watchers are disposed, but their cancels may still be on the way: a count
    // read now could drop by one later, and the exact counts below would never match.
    await waitFor(
      async () => (await metric(etcd, watchers)) === 0,
      5000,
      "earlier tests' watchers to be cancelled",
    );
    const before = 0;
    const broken = a.watch("cancel/1");
    const closed = a.watch("cancel/2");
    const nested = namespace(a, "deeper/").watch("cancel/3");
    await Promise.all([broken.ready, closed.ready, nested.ready]);
    await waitFor(async () => (await metric(etcd, watchers)) === before + 3, 5000, "3 watchers");
    {
      await using disposed = a.watch("cancel/4");
      await disposed.ready;
      await waitFor(async () => (await metric(etcd, watchers)) === before + 4, 5000, "4 watchers");
    }
    await a.put("cancel/1", "v");
    for await (const _ of broken) break;
    await closed.close();
    await a.put("deeper/cancel/3", "v");
    for await (const batch of nested) {
      assert.equal(new TextDecoder().decode(batch.events[0]?.kv?.key), "cancel/3");
      break;
    }
    await waitFor(async () => (await metric(etcd, watchers)) === before, 5000, "no watchers left");
    assert.equal((await closed[Symbol.asyncIterator]().next()).done, true);
  });

  it("refuses an empty key without a selector before sending anything", () => {
    assert.throws(() => a.watch(""), /key must not be empty/);
  });
});
