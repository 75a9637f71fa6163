import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { bytesToText, type Client, createClient, EtcdError, opDelete, opPut } from "@etcd-connect/client";
import { namespace } from "@etcd-connect/namespace";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { createMirror } from "../src/mirror/create-mirror.js";
import type { MirrorBatch, MirrorChange, MirrorSource, MirrorStatus } from "../src/mirror/mirror.js";
import { waitFor } from "./load.js";
import { metric } from "./watch-helpers.js";

// A change as one line of text, for comparing sequences.
function show(change: MirrorChange<string>): string {
  const key = bytesToText(change.key);
  const was = change.prevValue ?? "absent";
  return change.type === "put"
    ? `put ${key}=${change.value} (was ${was}) @${change.modRevision}`
    : `delete ${key} (was ${was}) @${change.modRevision}`;
}

// Every key under a prefix with its value and mod revision, as the store holds it now.
async function stored(client: Client, prefix: string): Promise<Map<string, [string, bigint]>> {
  const out = new Map<string, [string, bigint]>();
  for await (const page of client.getAll(prefix)) {
    for (const kv of page.kvs) out.set(bytesToText(kv.key), [bytesToText(kv.value), kv.modRevision]);
  }
  return out;
}

function contents(mirror: {
  entries(): IterableIterator<{ key: Uint8Array; value: string; modRevision: bigint }>;
}): Map<string, [string, bigint]> {
  const out = new Map<string, [string, bigint]>();
  for (const entry of mirror.entries()) out.set(bytesToText(entry.key), [entry.value, entry.modRevision]);
  return out;
}

const sorted = (map: Map<string, [string, bigint]>) => [...map].sort(([a], [b]) => (a < b ? -1 : 1));

describe("mirror against a real etcd", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  before(async () => {
    etcd = await startEtcd({ faults: true });
    client = createClient({ endpoints: [etcd.directClientUrl] });
  });
  after(async () => {
    await client?.close();
    await etcd?.close();
  });

  it("lists more than one page at one revision: writes between the pages do not tear it", async () => {
    const keys = Array.from({ length: 105 }, (_, i) => `m1/k${String(i).padStart(3, "0")}`);
    const writeAll = (generation: number) =>
      client
        .txn()
        .then(...keys.map((key) => opPut(key, `g${generation}`)))
        .commit();
    await writeAll(0);
    let generation = 0;
    let lastWrite = 0n;
    // The real client, with every key rewritten after each page is read: the next page would
    // see the new values unless it reads at the first page's revision.
    const source: MirrorSource = {
      get: async (key, options) => {
        const page = await client.get(key, options);
        lastWrite = (await writeAll(++generation)).header?.revision ?? 0n;
        return page;
      },
      watch: (key, options) => client.watch(key, options),
    };
    await using mirror = createMirror(source, "m1/", { pageSize: 10, decode: bytesToText });
    const atReady = await mirror.ready.then(() => ({ revision: mirror.revision, entries: contents(mirror) }));
    assert.equal(generation, 11, "11 pages of 10 keys, a write after each");
    assert.equal(atReady.entries.size, 105);
    assert.deepEqual(new Set([...atReady.entries.values()].map(([value]) => value)), new Set(["g0"]));
    const then = new Map<string, [string, bigint]>();
    for (const kv of (await client.get("m1/", { prefix: true, revision: atReady.revision })).kvs) {
      then.set(bytesToText(kv.key), [bytesToText(kv.value), kv.modRevision]);
    }
    assert.deepEqual(sorted(atReady.entries), sorted(then), "the list is the prefix at its revision");
    // The watch from the revision after the list replays the rewrites.
    await waitFor(() => mirror.revision === lastWrite, 10_000, `the mirror at revision ${lastWrite}`);
    assert.deepEqual(sorted(contents(mirror)), sorted(await stored(client, "m1/")));
    assert.equal(mirror.get("m1/k104")?.value, `g${generation}`);
  });

  it("follows puts and deletes in order, with previous values; a reader started first gets the list", async () => {
    const first = await client.put("m2/a", "0");
    await using mirror = createMirror(client, "m2/", { decode: bytesToText });
    const reader = mirror.changes();
    await mirror.ready;
    const initial = await reader.next();
    assert.equal(initial.value?.kind, "initial");
    assert.deepEqual(initial.value?.changes.map(show), [
      `put m2/a=0 (was absent) @${first.header?.revision}`,
    ]);
    await waitFor(() => mirror.status.state === "live", 10_000, "the mirror live");
    const revs: bigint[] = [];
    const note = async (write: Promise<{ header?: { revision: bigint } | undefined }>) => {
      revs.push((await write).header?.revision ?? 0n);
    };
    await note(client.put("m2/a", "1"));
    await note(client.put("m2/a", "2"));
    await note(client.delete("m2/a"));
    await note(client.put("m2/b", "1"));
    await note(client.txn().then(opPut("m2/c", "1"), opDelete("m2/b")).commit());
    await client.put("m3/outside", "x");
    const seen: string[] = [];
    const kinds = new Set<string>();
    while (seen.length < 6) {
      const batch = (await reader.next()).value as MirrorBatch<string>;
      kinds.add(batch.kind);
      seen.push(...batch.changes.map(show));
    }
    const [r1, r2, r3, r4, r5] = revs;
    assert.deepEqual(seen, [
      `put m2/a=1 (was 0) @${r1}`,
      `put m2/a=2 (was 1) @${r2}`,
      `delete m2/a (was 2) @${r3}`,
      `put m2/b=1 (was absent) @${r4}`,
      `put m2/c=1 (was absent) @${r5}`,
      `delete m2/b (was 1) @${r5}`,
    ]);
    assert.deepEqual([...kinds], ["events"]);
    assert.equal(mirror.revision, r5);
    assert.equal(mirror.get("m2/a"), undefined);
    assert.equal(mirror.get("m2/c")?.value, "1");
    assert.equal(mirror.size, 1);
    assert.equal(mirror.status.state, "live");
  });

  it("a list whose revision is compacted between two pages starts again at a new revision", async () => {
    for (let i = 0; i < 30; i++) await client.put(`m4/k${i}`, "old");
    const reasons: string[] = [];
    let compacted = false;
    const source: MirrorSource = {
      get: async (key, options) => {
        try {
          const page = await client.get(key, options);
          if (!compacted) {
            compacted = true;
            await client.put("m4/k29", "new");
            const now = (await client.put("m4/k0", "new")).header?.revision ?? 0n;
            await client.compact(now, { physical: true });
          }
          return page;
        } catch (error) {
          if (error instanceof EtcdError) reasons.push(error.reason);
          throw error;
        }
      },
      watch: (key, options) => client.watch(key, options),
    };
    await using mirror = createMirror(source, "m4/", { pageSize: 10, decode: bytesToText });
    await mirror.ready;
    assert.deepEqual(reasons, ["compacted"], "the second page of the first list was compacted");
    assert.equal(mirror.get("m4/k0")?.value, "new");
    assert.equal(mirror.get("m4/k29")?.value, "new");
    assert.deepEqual(sorted(contents(mirror)), sorted(await stored(client, "m4/")));
  });

  it("after the watch's history is compacted during a black hole: one resync batch, the exact difference", async () => {
    const proxy = etcd.clientProxy;
    assert.ok(proxy);
    for (const key of ["keep", "change", "vanish", "rewrite"]) await client.put(`m5/${key}`, "a");
    await using behind = createClient({ endpoints: [etcd.clientUrl] });
    await using mirror = createMirror(behind, "m5/", { decode: bytesToText });
    await mirror.ready;
    await waitFor(() => mirror.status.state === "live", 10_000, "the mirror live");
    const reader = mirror.changes();
    const states: MirrorStatus["state"][] = [];
    const tracking = (async () => {
      for (let s = mirror.status; s.state !== "closed"; s = await mirror.statusChanged())
        states.push(s.state);
    })();
    const before = contents(mirror);

    proxy.blackhole();
    await client.put("m5/change", "b");
    await client.put("m5/change", "c");
    await client.delete("m5/vanish");
    await client.put("m5/new", "x");
    await client.put("m5/passing", "1");
    await client.delete("m5/passing");
    await client.put("m5/rewrite", "a");
    const now = (await client.put("m6/elsewhere", "1")).header?.revision ?? 0n;
    await client.compact(now, { physical: true });
    // Back, on a fresh connection: the watch resumes from before the compaction and cannot.
    proxy.heal();
    proxy.reset();

    const batch = (await reader.next()).value as MirrorBatch<string>;
    const rewritten = mirror.get("m5/rewrite")?.modRevision;
    const listed = mirror.revision;
    assert.equal(batch.kind, "resync");
    assert.equal(batch.revision, listed);
    assert.ok(listed >= now, "the resync listed after the compaction");
    assert.deepEqual(batch.changes.map(show).sort(), [
      `delete m5/vanish (was a) @${listed}`,
      `put m5/change=c (was a) @${mirror.get("m5/change")?.modRevision}`,
      `put m5/new=x (was absent) @${mirror.get("m5/new")?.modRevision}`,
      `put m5/rewrite=a (was a) @${rewritten}`,
    ]);
    assert.notEqual(before.get("m5/rewrite")?.[1], rewritten);
    assert.deepEqual(sorted(contents(mirror)), sorted(await stored(client, "m5/")));
    await waitFor(() => mirror.status.state === "live", 10_000, "the mirror live again");
    assert.ok(states.includes("resyncing"), `states: ${states.join(", ")}`);
    // Live again: changes flow as events.
    const after = await client.put("m5/keep", "z");
    const next = (await reader.next()).value as MirrorBatch<string>;
    assert.deepEqual(next.changes.map(show), [`put m5/keep=z (was a) @${after.header?.revision}`]);
    await mirror.close();
    await tracking;
  });

  it("a reader that falls behind gets one coalesced batch: what it saw, and now, per key", async () => {
    await using mirror = createMirror(client, "m7/", { decode: bytesToText, maxPendingChanges: 5 });
    await mirror.ready;
    const reader = mirror.changes();
    // Two rounds of writes, each applied before the next: at least two unread batches, more than
    // 5 changes (one watch answer may carry many revisions).
    let last = 0n;
    for (const round of [0, 1]) {
      for (let i = round * 30; i < round * 30 + 30; i++) {
        last = (await client.put(`m7/k${i % 6}`, String(i))).header?.revision ?? 0n;
      }
      await waitFor(() => mirror.revision === last, 10_000, `the mirror at revision ${last}`);
    }
    const batch = (await reader.next()).value as MirrorBatch<string>;
    assert.equal(batch.kind, "coalesced");
    assert.equal(batch.revision, last);
    const expected = Array.from({ length: 6 }, (_, k) => {
      const key = `m7/k${k}`;
      return `put ${key}=${54 + k} (was absent) @${mirror.get(key)?.modRevision}`;
    });
    assert.deepEqual(batch.changes.map(show).sort(), expected.sort());
    const written = await client.put("m7/k0", "again");
    const next = (await reader.next()).value as MirrorBatch<string>;
    assert.equal(next.kind, "events");
    assert.deepEqual(next.changes.map(show), [`put m7/k0=again (was 54) @${written.header?.revision}`]);
  });

  it("inside a namespace: keys relative to it, nothing from outside", async () => {
    const tenant = namespace(client, "tenant-a/");
    await client.put("tenant-a/config/db", "postgres");
    await client.put("tenant-b/config/db", "mysql");
    await client.put("tenant-a/other", "x");
    await using mirror = createMirror(tenant, "config/", { decode: bytesToText });
    await mirror.ready;
    const reader = mirror.changes();
    assert.deepEqual(
      [...mirror.entries()].map((e) => `${bytesToText(e.key)}=${e.value}`),
      ["config/db=postgres"],
    );
    assert.equal(mirror.get("config/db")?.value, "postgres");
    await client.put("tenant-b/config/cache", "redis");
    const written = await tenant.put("config/cache", "memcached");
    const batch = (await reader.next()).value as MirrorBatch<string>;
    assert.deepEqual(batch.changes.map(show), [
      `put config/cache=memcached (was absent) @${written.header?.revision}`,
    ]);
    assert.equal(mirror.size, 2);
  });

  it("a whole namespace (empty prefix) mirrors every key of it", async () => {
    const tenant = namespace(client, "tenant-c/");
    await tenant.put("a", "1");
    await tenant.put("b/c", "2");
    await client.put("tenant-c", "the prefix itself is outside");
    await using mirror = createMirror(tenant, "", { decode: bytesToText, pageSize: 1 });
    await mirror.ready;
    assert.deepEqual([...mirror.entries()].map((e) => bytesToText(e.key)).sort(), ["a", "b/c"]);
  });

  it("a value its decoder refuses ends the mirror with invalid_argument, readers included", async () => {
    await client.put("m8/good", '{"ok":true}');
    await using mirror = createMirror(client, "m8/", {
      decode: (v) => JSON.parse(bytesToText(v)) as unknown,
    });
    await mirror.ready;
    const reader = mirror.changes();
    await client.put("m8/bad", "{not json");
    await assert.rejects(reader.next(), (error: unknown) => EtcdError.is(error, "invalid_argument"));
    assert.equal(mirror.status.state, "closed");
    assert.ok(EtcdError.is(mirror.status.error, "invalid_argument"));
    assert.deepEqual(mirror.get("m8/good")?.value, { ok: true });
  });

  it("closes on its signal: the watch is cancelled on the server, readers end, a pending ready rejects", async () => {
    // The watches of earlier tests were all cancelled; etcd may take a moment to drop them.
    const watchers = () => metric(etcd, "etcd_debugging_mvcc_watcher_total");
    await waitFor(async () => (await watchers()) === 0, 10_000, "no watch left from earlier tests");
    const abort = new AbortController();
    const mirror = createMirror(client, "m9/", { signal: abort.signal });
    await mirror.ready;
    await waitFor(() => mirror.status.state === "live", 10_000, "the mirror live");
    await waitFor(async () => (await watchers()) === 1, 10_000, "etcd counting the mirror's watch");
    const reader = mirror.changes();
    const reading = (async () => {
      let batches = 0;
      for await (const _ of reader) batches++;
      return batches;
    })();
    abort.abort();
    assert.equal(await reading, 0, "the reader's loop ended cleanly");
    assert.equal(mirror.status.state, "closed");
    assert.equal(mirror.status.error, undefined);
    await waitFor(async () => (await watchers()) === 0, 10_000, "etcd dropping the mirror's watch");
    assert.equal((await mirror.changes().next()).done, true, "a reader after the end ends at once");

    const early = createMirror(client, "m9/", { signal: AbortSignal.abort() });
    await assert.rejects(early.ready, (error: unknown) => EtcdError.is(error, "canceled"));
    const closing = createMirror(client, "m9/");
    const closed = closing.close();
    await assert.rejects(closing.ready, (error: unknown) => EtcdError.is(error, "canceled"));
    await closed;
  });

  it("ends cleanly when its client is closed", async () => {
    const own = createClient({ endpoints: [etcd.directClientUrl] });
    const mirror = createMirror(own, "m10/");
    await mirror.ready;
    const reader = mirror.changes();
    await own.close();
    assert.equal((await reader.next()).done, true);
    assert.equal(mirror.status.state, "closed");
    assert.equal(mirror.status.error, undefined);
    await mirror.close();
  });
});
