// Large messages against a real etcd: watch catch-ups, range reads and snapshots of tens to
// hundreds of MiB must arrive whole, and must not starve small calls sharing the connection.
// Each transfer gets its own deadline so that a flow-control stall fails the test with a count
// of what arrived, instead of hanging the run.

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, open, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as pause } from "node:timers/promises";
import { bytesToText, type Client, createClient, opPut, type Watcher } from "@etcd-connect/client";
import { type EtcdMember, integrationOptions, requestJson, startEtcd } from "@etcd-connect/testing";

const MiB = 1 << 20;

const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

/** A key as etcd stored it: what a watch event or a range read must reproduce exactly. */
interface Stored {
  key: string;
  revision: bigint;
  sha: string;
}

/**
 * Puts `count` keys `${prefix}${i}` of 1 MiB of fresh random bytes each, one at a time so that
 * revisions are consecutive, and returns their revisions and hashes (not the megabytes).
 */
async function putLargeKeys(client: Client, prefix: string, count: number): Promise<Stored[]> {
  const stored: Stored[] = [];
  for (let i = 0; i < count; i++) {
    const key = `${prefix}${String(i).padStart(3, "0")}`;
    const value = randomBytes(MiB);
    const put = await client.put(key, value);
    const revision = put.header?.revision;
    assert.ok(revision !== undefined && revision > 0n, `etcd acknowledged the put of ${key} with a revision`);
    stored.push({ key, revision, sha: sha256(value) });
  }
  // Nothing else writes while the keys are put: the revisions form one consecutive range.
  const first = stored[0]?.revision ?? 0n;
  assert.deepEqual(
    stored.map((s) => s.revision),
    stored.map((_, i) => first + BigInt(i)),
    "the puts got consecutive revisions",
  );
  return stored;
}

/**
 * Asks etcd's JSON gateway (a separate HTTP/1.1 connection, not the client's transport) how many
 * keys are under `prefix`: proves that the data is in etcd before a transfer is blamed.
 */
async function countViaGateway(etcd: EtcdMember, prefix: string): Promise<number> {
  const key = Buffer.from(prefix);
  const end = Buffer.from(prefix);
  end[end.length - 1] = (end[end.length - 1] ?? 0) + 1;
  const answer = (await requestJson(`${etcd.directClientUrl}/v3/kv/range`, {
    body: { key: key.toString("base64"), range_end: end.toString("base64"), count_only: true },
  })) as { count?: string };
  return Number(answer.count ?? 0);
}

/** Rejects after `ms` with `what`; `clear()` stops the timer once the race is decided. */
function deadline(ms: number, what: string): { promise: Promise<never>; clear(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  // The race may be decided by the other side; this rejection must not count as unhandled.
  promise.catch(() => {});
  return { promise, clear: () => clearTimeout(timer) };
}

/**
 * Reads watch events until `count` arrived or `ms` passed, hashing each value as it comes (the
 * megabytes are not kept). Raced against a deadline rather than relying on the watcher to end,
 * so that a stalled stream fails with what did arrive. Closes the watcher either way.
 */
async function collectEvents(
  watcher: Watcher,
  count: number,
  ms: number,
): Promise<{ events: Stored[]; error: Error | undefined }> {
  const events: Stored[] = [];
  const iterator = watcher[Symbol.asyncIterator]();
  const timer = deadline(ms, `no ${count} events`);
  let error: Error | undefined;
  try {
    while (events.length < count) {
      const next = await Promise.race([iterator.next(), timer.promise]);
      if (next.done) throw new Error(`the watch ended after ${events.length} of ${count} events`);
      for (const event of next.value.events) {
        events.push({
          key: bytesToText(event.kv?.key ?? new Uint8Array()),
          revision: event.kv?.modRevision ?? -1n,
          sha: sha256(event.kv?.value ?? new Uint8Array()),
        });
      }
    }
  } catch (caught) {
    error = caught instanceof Error ? caught : new Error(String(caught));
  } finally {
    timer.clear();
    await watcher.close();
  }
  return { events, error };
}

/** One failed small call, for the assertion message and the report. */
interface SmallFailure {
  worker: number;
  call: string;
  afterMs: number;
  error: string;
}

/**
 * The small calls that must keep answering while a large transfer runs: `workers` concurrent
 * loops of put + get of their own small key, each with a 2 s deadline, until `until` settles
 * (every worker does at least one round, even if the transfer is quick).
 */
const smallCallPacingMs = 50;

async function smallCallsDuring(
  client: Client,
  until: Promise<unknown>,
  workers = 20,
): Promise<{ calls: number; failures: SmallFailure[] }> {
  let done = false;
  const stop = () => {
    done = true;
  };
  until.then(stop, stop);
  let calls = 0;
  const failures: SmallFailure[] = [];
  const timed = async (worker: number, call: string, fn: () => Promise<unknown>) => {
    const start = Date.now();
    try {
      await fn();
      calls++;
    } catch (error) {
      failures.push({ worker, call, afterMs: Date.now() - start, error: String(error) });
    }
  };
  const loop = async (worker: number) => {
    const key = `small/${worker}`;
    for (let round = 0; round === 0 || !done; round++) {
      const value = `v${round}`;
      await timed(worker, `put ${key}`, () => client.put(key, value, { timeoutMs: 2000 }));
      await timed(worker, `get ${key}`, async () => {
        const res = await client.get(key, { timeoutMs: 2000 });
        const got = res.kvs[0] === undefined ? undefined : bytesToText(res.kvs[0].value);
        // A linearizable read after our own acknowledged put sees it (unless that put failed).
        if (got !== value && !failures.some((f) => f.worker === worker && f.call === `put ${key}`)) {
          throw new Error(`read ${String(got)} after putting ${value}`);
        }
      });
      // Paced like an application's steady traffic (about 800 calls/s in all), not a load test:
      // flat out, 20 loops took a core from the suites that run beside this one.
      await pause(smallCallPacingMs);
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, w) => loop(w)));
  return { calls, failures };
}

/** The first few failures, one line each. */
function summarize(failures: SmallFailure[]): string[] {
  return failures.slice(0, 5).map((f) => `worker ${f.worker} ${f.call} after ${f.afterMs} ms: ${f.error}`);
}

function assertSmallCallsOk(small: { calls: number; failures: SmallFailure[] }): void {
  assert.deepEqual(
    summarize(small.failures),
    [],
    `${small.failures.length} of ${small.calls + small.failures.length} small calls failed`,
  );
  assert.ok(small.calls >= 40, `every small worker completed a round (${small.calls} calls)`);
}

describe("large messages against a real etcd", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  before(async () => {
    // etcd's defaults fit: 1 MiB values are below --max-request-bytes (1.5 MiB), and the
    // ~400 MiB this file writes is well below the 2 GiB backend quota.
    etcd = await startEtcd();
    client = createClient({ endpoints: [etcd.clientUrl] });
  });
  after(async () => {
    await client?.close();
    await etcd?.close();
  });

  // etcd sends the 4 events of this catch-up in one watch response of just over 4 MiB, more than
  // the client's 4 MiB stream window. If the client only returns window for whole messages, the
  // server waits for window and the client for the rest of the message: a deadlock.
  it("a watch catch-up of 4 x 1 MiB arrives whole (flow-control deadlock regression)", {
    timeout: 30_000,
  }, async () => {
    const stored = await putLargeKeys(client, "lm1/", 4);
    assert.equal(await countViaGateway(etcd, "lm1/"), 4, "etcd holds the 4 keys");
    const watcher = client.watch("lm1/", { prefix: true, startRevision: stored[0]?.revision ?? 0n });
    const { events, error } = await collectEvents(watcher, 4, 15_000);
    assert.deepEqual(
      events,
      stored,
      `the 4 events, whole and in order (got ${events.length}; ${error?.message ?? "no error"})`,
    );
  });

  it("a watch catch-up of 64 MiB arrives whole and in order while small calls answer", {
    timeout: 60_000,
  }, async (t) => {
    const stored = await putLargeKeys(client, "lm2/", 64);
    assert.equal(await countViaGateway(etcd, "lm2/"), 64, "etcd holds the 64 keys");
    const watcher = client.watch("lm2/", { prefix: true, startRevision: stored[0]?.revision ?? 0n });
    const transfer = collectEvents(watcher, 64, 30_000);
    const small = await smallCallsDuring(client, transfer);
    const { events, error } = await transfer;
    t.diagnostic(
      `${small.calls} small calls succeeded, ${small.failures.length} failed ${summarize(small.failures).join("; ")}`,
    );
    // Both outcomes in one message: a stalled watch must not hide how the small calls fared.
    assert.deepEqual(
      { events: events.length, smallFailures: summarize(small.failures) },
      { events: 64, smallFailures: [] },
      `64 events (${error?.message ?? "no error"}) and no failed small call`,
    );
    assert.deepEqual(events, stored, "every event whole, in revision order");
    assertSmallCallsOk(small);
  });

  it("a 64 MiB range read arrives whole while small calls answer", { timeout: 60_000 }, async (t) => {
    const stored = await putLargeKeys(client, "lm3/", 64);
    assert.equal(await countViaGateway(etcd, "lm3/"), 64, "etcd holds the 64 keys");
    // The deadline only makes a stall fail cleanly; a user's read of this size would have none.
    const transfer = client.get("lm3/", { prefix: true, timeoutMs: 30_000 });
    const small = await smallCallsDuring(client, transfer);
    t.diagnostic(
      `${small.calls} small calls succeeded, ${small.failures.length} failed ${summarize(small.failures).join("; ")}`,
    );
    const res = await transfer;
    const got = res.kvs.map((kv) => ({
      key: bytesToText(kv.key),
      revision: kv.modRevision,
      sha: sha256(kv.value),
    }));
    assert.deepEqual(got, stored, "every key-value whole (keys sort as they were put)");
    assertSmallCallsOk(small);
  });

  // Answers of several MiB made of small events: decoded where they lie in the reads they
  // arrived in (the transport keeps views of those reads for any message of 256 KiB or more),
  // and every key and value must still be exactly what was written.
  it("a catch-up and a range read of 20,480 small keys (answers of ~5 MiB) arrive whole", {
    timeout: 60_000,
  }, async () => {
    const txns = 160;
    const perTxn = 128;
    const keyAt = (i: number) => `lm4/${String(i).padStart(5, "0")}`;
    const valueAt = (i: number) => `${keyAt(i)}|`.padEnd(200, String.fromCharCode(97 + (i % 26)));
    const head = (await client.get("lm4/", { countOnly: true })).header?.revision ?? 0n;
    for (let t = 0; t < txns; t++) {
      const ops = Array.from({ length: perTxn }, (_, j) =>
        opPut(keyAt(t * perTxn + j), valueAt(t * perTxn + j)),
      );
      await client
        .txn()
        .then(...ops)
        .commit();
    }
    const total = txns * perTxn;
    const watcher = client.watch("lm4/", { prefix: true, startRevision: head + 1n });
    const events: Array<{ key: string; value: string; plain: boolean }> = [];
    let largestBatch = 0;
    for await (const batch of watcher) {
      largestBatch = Math.max(largestBatch, batch.events.length);
      for (const event of batch.events) {
        const value = event.kv?.value ?? new Uint8Array();
        events.push({
          key: bytesToText(event.kv?.key ?? new Uint8Array()),
          value: bytesToText(value),
          plain: Object.getPrototypeOf(value) === Uint8Array.prototype,
        });
      }
      if (events.length >= total) break;
    }
    const expected = Array.from({ length: total }, (_, i) => ({
      key: keyAt(i),
      value: valueAt(i),
      plain: true,
    }));
    assert.deepEqual(events, expected, "every event whole, in order, its value a plain Uint8Array");
    assert.ok(
      largestBatch > 1000,
      `etcd sent the catch-up in large answers (largest ${largestBatch} events)`,
    );
    const range = await client.get("lm4/", { prefix: true });
    assert.deepEqual(
      range.kvs.map((kv) => ({
        key: bytesToText(kv.key),
        value: bytesToText(kv.value),
        plain: Object.getPrototypeOf(kv.value) === Uint8Array.prototype,
      })),
      expected,
      "every key-value of the range read whole",
    );
  });

  it("a snapshot of >= 256 MiB streams to a file, verified, while small calls answer", {
    timeout: 90_000,
  }, async (t) => {
    const target = 256 * MiB;
    const fillStart = Date.now();
    // The earlier tests' keys count too, so the fill stops on etcd's own dbSize rather than after
    // a fixed number of puts. Overwriting 64 keys grows the database like new keys would (etcd
    // keeps every revision until a compaction). The contents do not matter here, so one random
    // MiB is reused; 8 concurrent writers keep etcd's batched commits full.
    const value = randomBytes(MiB);
    const dbSize = async () => Number((await client.maintenance.status(etcd.clientUrl)).dbSize);
    let n = 0;
    let size = await dbSize();
    while (size < target) {
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          for (let i = 0; i < 4; i++) await client.put(`lm4/${String(n++ % 64)}`, value);
        }),
      );
      size = await dbSize();
      // A database that stops growing would otherwise loop for ever.
      assert.ok(n <= 512, `the database grows: ${size} bytes after ${n} puts of 1 MiB`);
    }

    t.diagnostic(`filled to ${size} bytes with ${n} puts in ${Date.now() - fillStart} ms`);

    const dir = await mkdtemp(join(tmpdir(), "etcd-connect-large-"));
    try {
      const path = join(dir, "snapshot.db");
      // snapshotToFile verifies etcd's sha256 trailer before it renames the file into place:
      // a resolved promise means the check passed. Its deadline only makes a stall fail cleanly.
      const transfer = client.maintenance.snapshotToFile(path, { timeoutMs: 60_000 });
      const transferStart = Date.now();
      const small = await smallCallsDuring(client, transfer);
      t.diagnostic(
        `snapshot took ${Date.now() - transferStart} ms; ${small.calls} small calls succeeded, ${small.failures.length} failed ${summarize(small.failures).join("; ")}`,
      );
      const { size: bytes } = await transfer;
      const file = await stat(path);
      assert.equal(file.size, bytes, "the file holds what the client received");
      assert.ok(file.size >= target, `the snapshot is ${file.size} bytes, the database ${size}`);
      // And the file on disk, independently: its last 32 bytes are the sha256 of the rest.
      const hash = createHash("sha256");
      for await (const chunk of createReadStream(path, { end: file.size - 33 })) hash.update(chunk as Buffer);
      const tail = Buffer.alloc(32);
      const handle = await open(path, "r");
      try {
        await handle.read(tail, 0, 32, file.size - 32);
      } finally {
        await handle.close();
      }
      assert.equal(hash.digest("hex"), tail.toString("hex"), "the file's trailer matches its contents");
      assertSmallCallsOk(small);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
