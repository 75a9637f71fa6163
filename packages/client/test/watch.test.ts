import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Event_EventType } from "@etcd-connect/api/mvccpb";
import {
  bytesToText,
  type Client,
  createClient,
  EtcdError,
  type Event,
  opPut,
  type WatchBatch,
} from "@etcd-connect/client";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { waitFor } from "./load.js";
import { collect, metric, strictlyIncreasing } from "./watch-helpers.js";

describe("watch against a real etcd", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  before(async () => {
    etcd = await startEtcd({ faults: true });
    client = createClient({ endpoints: [etcd.clientUrl] });
  });
  after(async () => {
    await client?.close();
    await etcd?.close();
  });

  it("delivers puts and deletes with prevKv, in order", async () => {
    await using watcher = client.watch("w1/", { prefix: true, prevKv: true });
    await watcher.ready; // writes below happen after etcd registered the watch
    await client.put("w1/a", "1");
    await client.put("w1/a", "2");
    await client.delete("w1/a");
    const events: Array<[number, string, string | undefined]> = [];
    for await (const batch of watcher) {
      for (const e of batch.events) {
        events.push([
          e.type,
          bytesToText(e.kv?.value ?? new Uint8Array()),
          e.prevKv && bytesToText(e.prevKv.value),
        ]);
      }
      if (events.length >= 3) break;
    }
    assert.deepEqual(events, [
      [Event_EventType.PUT, "1", undefined],
      [Event_EventType.PUT, "2", "1"],
      [Event_EventType.DELETE, "", "2"],
    ]);
  });

  it('watches [key, rangeEnd) and, with rangeEnd "\\0", every key from the key on', async () => {
    await using span = client.watch("wr/b", { rangeEnd: "wr/bc" });
    await using after = client.watch("wr/b", { rangeEnd: "\0" });
    await Promise.all([span.ready, after.ready]);
    // Keys outside a watch's range go first: one delivered would come before the ones expected.
    for (const key of ["wr/a", "wr/bc", "wr/c", "wr/b", "wr/bb"]) await client.put(key, "v");
    const keys = async (w: AsyncIterable<WatchBatch>, count: number) => {
      const seen: string[] = [];
      for await (const b of w) {
        for (const e of b.events) seen.push(bytesToText(e.kv?.key ?? new Uint8Array()));
        if (seen.length >= count) return seen;
      }
      return seen;
    };
    assert.deepEqual(await keys(span, 2), ["wr/b", "wr/bb"]);
    assert.deepEqual(await keys(after, 4), ["wr/bc", "wr/c", "wr/b", "wr/bb"]);
  });

  it("filters puts or deletes", async () => {
    await using noPut = client.watch("w2/", { prefix: true, noPut: true });
    await using noDelete = client.watch("w2/", { prefix: true, noDelete: true });
    await Promise.all([noPut.ready, noDelete.ready]);
    await client.put("w2/x", "v");
    await client.delete("w2/x");
    const first = async (w: AsyncIterable<WatchBatch>) => {
      for await (const b of w) if (b.events.length > 0) return b.events.map((e: Event) => e.type);
      return [];
    };
    assert.deepEqual(await first(noPut), [Event_EventType.DELETE]);
    assert.deepEqual(await first(noDelete), [Event_EventType.PUT]);
  });

  it("starts from a past revision and replays history", async () => {
    const first = await client.put("w3/k", "a");
    await client.put("w3/k", "b");
    await using watcher = client.watch("w3/k", { startRevision: first.header?.revision ?? 0n });
    const revisions = await collect(watcher, 2);
    assert.equal(revisions.length, 2);
    assert.equal(revisions[0], first.header?.revision);
  });

  it("requestProgress and progressNotify deliver progress batches", async () => {
    await using watcher = client.watch("w4/", { prefix: true, progressNotify: true });
    await watcher.ready;
    const put = await client.put("other/key", "v");
    await client.requestProgress();
    for await (const batch of watcher) {
      if (batch.progress) {
        assert.equal(batch.events.length, 0);
        assert.ok(batch.revision >= (put.header?.revision ?? 0n));
        break;
      }
    }
  });

  it("reassembles fragmented responses", async () => {
    // 40 values of 40 KiB in one txn make a 1.6 MB revision: over etcd's 1.5 MiB request limit,
    // so etcd splits the watch response when asked to.
    const start = (await client.put("w5/start", "x")).header?.revision ?? 0n;
    const value = "v".repeat(40 * 1024);
    for (let batch = 0; batch < 2; batch++) {
      await client
        .txn()
        .then(...Array.from({ length: 20 }, (_, i) => opPut(`w5/${batch}/${i}`, value)))
        .commit();
    }
    await using watcher = client.watch("w5/", { prefix: true, fragment: true, startRevision: start + 1n });
    const revisions = await collect(watcher, 40);
    assert.equal(revisions.length, 40);
  });

  it("closing, breaking out and aborting cancel the watch on the server", async () => {
    // Earlier tests' watchers are closed, but their cancels may still be on the way: a count
    // read now could drop by one later, and the exact counts below would never match.
    await waitFor(
      async () => (await metric(etcd, "etcd_debugging_mvcc_watcher_total")) === 0,
      5000,
      "earlier tests' watchers to be cancelled",
    );
    const before = 0;
    const abort = new AbortController();
    const a = client.watch("w6/a");
    const b = client.watch("w6/b", { signal: abort.signal });
    const c = client.watch("w6/c");
    await Promise.all([a.ready, b.ready, c.ready]);
    await waitFor(
      async () => (await metric(etcd, "etcd_debugging_mvcc_watcher_total")) === before + 3,
      5000,
      "3 watchers",
    );
    await a.close();
    abort.abort();
    await client.put("w6/c", "v");
    for await (const _ of c) break;
    await waitFor(
      async () => (await metric(etcd, "etcd_debugging_mvcc_watcher_total")) === before,
      5000,
      "0 watchers",
    );
    const ended = await b[Symbol.asyncIterator]().next();
    assert.equal(ended.done, true);
  });

  it("10,000 watchers share one stream; closing them all leaves none on the server", async () => {
    const watchers = Array.from({ length: 10_000 }, (_, i) => client.watch(`many/${i}`));
    await waitFor(
      async () => (await metric(etcd, "etcd_debugging_mvcc_watcher_total")) >= 10_000,
      20_000,
      "10k watchers",
    );
    assert.equal(await metric(etcd, "etcd_debugging_mvcc_watch_stream_total"), 1);
    await client.put("many/4242", "v");
    const it4242 = watchers[4242]?.[Symbol.asyncIterator]();
    const got = await it4242?.next();
    assert.equal(got?.value?.events[0]?.kv && bytesToText(got.value.events[0].kv.key), "many/4242");
    await Promise.all(watchers.map((w) => w.close()));
    await waitFor(
      async () => (await metric(etcd, "etcd_debugging_mvcc_watcher_total")) === 0,
      10_000,
      "0 watchers",
    );
  });

  it("resumes during a catch-up after a reset: 3,000 of 3,000 events, unique and increasing", async () => {
    const start = (await client.put("cu/start", "x")).header?.revision ?? 0n;
    await Promise.all(Array.from({ length: 3000 }, (_, i) => client.put(`cu/${i}`, "v")));
    await using watcher = client.watch("cu/", { prefix: true, startRevision: start + 1n });
    let reset = false;
    const revisions = await collect(watcher, 3000, () => {
      if (!reset) {
        reset = true;
        etcd.clientProxy?.reset();
      }
    });
    assert.ok(reset);
    assert.equal(revisions.length, 3000);
    assert.ok(strictlyIncreasing(revisions));
  });

  it("a resume point that was compacted ends the watch with reason compacted", async () => {
    await using direct = createClient({ endpoints: [etcd.directClientUrl] });
    const watcher = client.watch("cmp/k");
    await watcher.ready;
    await client.put("cmp/k", "1");
    const iterator = watcher[Symbol.asyncIterator]();
    assert.equal((await iterator.next()).value?.events.length, 1);
    etcd.clientProxy?.blackhole();
    await direct.put("cmp/k", "2");
    const latest = await direct.put("cmp/k", "3");
    await direct.compact(latest.header?.revision ?? 0n);
    etcd.clientProxy?.reset();
    etcd.clientProxy?.heal();
    await assert.rejects(
      (async () => {
        for (;;) if ((await iterator.next()).done) return;
      })(),
      (e: unknown) => {
        assert.ok(EtcdError.is(e, "compacted"), String(e));
        assert.equal((e as EtcdError).compactRevision, latest.header?.revision);
        return true;
      },
    );
  });

  it("a reader waiting for a batch over the limit takes it without the watch being paused", async () => {
    await using reader = createClient({
      endpoints: [etcd.clientUrl],
      watchMaxBufferedEvents: 50,
      watchSilenceMs: 60_000,
    });
    // Watch requests etcd has received, from every client: this test's are the only ones now.
    const watchRequests = () => metric(etcd, "grpc_server_msg_received_total", 'grpc_method="Watch"');
    const before = await watchRequests();
    await using watcher = reader.watch("waited/", { prefix: true });
    await watcher.ready;
    const iterator = watcher[Symbol.asyncIterator]();
    const first = iterator.next();
    await client
      .txn()
      .then(...Array.from({ length: 120 }, (_, i) => opPut(`waited/${i}`, "v")))
      .commit();
    assert.equal(((await first).value as WatchBatch).events.length, 120);
    // A later event reaches the reader either way; paused, only after a cancel and a create.
    await client.put("waited/after", "v");
    assert.equal(((await iterator.next()).value as WatchBatch).events[0]?.kv?.key.length, 12);
    assert.equal((await watchRequests()) - before, 1, "the create request only");
  });

  it("a reader that falls behind is paused on the server and resumed without loss", async () => {
    await using slow = createClient({ endpoints: [etcd.clientUrl], watchMaxBufferedEvents: 50 });
    const start = (await client.put("slow/start", "x")).header?.revision ?? 0n;
    await Promise.all(Array.from({ length: 1000 }, (_, i) => client.put(`slow/${i}`, "v")));
    await using watcher = slow.watch("slow/", { prefix: true, startRevision: start + 1n });
    const revisions: bigint[] = [];
    for await (const batch of watcher) {
      for (const e of batch.events) revisions.push(e.kv?.modRevision ?? -1n);
      await new Promise((resolve) => setImmediate(resolve));
      if (revisions.length >= 1000) break;
    }
    assert.equal(revisions.length, 1000);
    assert.ok(strictlyIncreasing(revisions));
  });
});

describe("a watch on a quiet key, with progress notifications", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  before(async () => {
    etcd = await startEtcd({
      faults: true,
      extraArgs: ["--experimental-watch-progress-notify-interval=300ms"],
    });
    client = createClient({ endpoints: [etcd.clientUrl] });
  });
  after(async () => {
    await client?.close();
    await etcd?.close();
  });

  it("resumes after the last progress, not its last event: history compacted past it is no loss", async () => {
    await client.put("quiet", "1");
    await using watcher = client.watch("quiet", { progressNotify: true });
    await watcher.ready;
    let last = 0n;
    for (let i = 0; i < 20; i++) last = (await client.put("busy", String(i))).header?.revision ?? 0n;
    // Batches as they come; the watch's key itself stays untouched meanwhile.
    const batches: WatchBatch[] = [];
    let failure: unknown;
    const reading = (async () => {
      for await (const batch of watcher) batches.push(batch);
    })().catch((error: unknown) => {
      failure = error;
    });
    await waitFor(
      () => batches.some((b) => b.progress && b.revision >= last),
      10_000,
      `a progress notification at revision ${last} or later`,
    );
    assert.ok(watcher.status.revision > last, `resumes from ${watcher.status.revision}`);
    // Everything up to the progress is compacted, and the stream is lost: the watch resumes
    // past the progress it heard, so nothing it needs is gone.
    await client.compact(last);
    etcd.clientProxy?.reset();
    // Written past the proxy: the reset is the watch's, not the writer's.
    await using writer = createClient({ endpoints: [etcd.directClientUrl] });
    const put = await writer.put("quiet", "2");
    await waitFor(
      () => failure !== undefined || batches.some((b) => b.events.length > 0),
      10_000,
      "the put on the quiet key",
    );
    assert.equal(failure, undefined);
    const events = batches.flatMap((b) => b.events);
    assert.deepEqual(
      events.map((e) => [bytesToText(e.kv?.value ?? new Uint8Array()), e.kv?.modRevision]),
      [["2", put.header?.revision]],
    );
    await watcher.close();
    await reading;
  });
});
