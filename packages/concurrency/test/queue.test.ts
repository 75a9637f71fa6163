import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Client, createClient, type EtcdApi } from "@etcd-connect/client";
import { ConcurrencyError, createPriorityQueue, createQueue } from "@etcd-connect/concurrency";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { countingWatches, etcdctlRun, text } from "./helpers.js";

describe("queue and priority queue", integrationOptions(), () => {
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

  const stored = async (prefix: string) =>
    (await client.get(prefix, { prefix: true })).kvs.map((kv) => [text(kv.key), text(kv.value), kv.lease]);

  it("queue: Go's layout (<name>/<ns>, the value, no lease) and first in, first out", async () => {
    const queue = createQueue(client, "queue-test/fifo");
    assert.equal(queue.prefix, "queue-test/fifo/");
    const keys: string[] = [];
    for (const job of ["a", "b", "c"]) keys.push(await queue.enqueue(`job ${job}`));
    for (const key of keys) assert.match(key, /^queue-test\/fifo\/[0-9]{19}$/);
    assert.deepEqual(await stored("queue-test/fifo/"), [
      [keys[0], "job a", 0n],
      [keys[1], "job b", 0n],
      [keys[2], "job c", 0n],
    ]);
    const first = await queue.dequeue();
    assert.equal(text(first.key), keys[0]);
    assert.equal(text(first.value), "job a");
    const second = await queue.dequeue();
    assert.ok(second.claimRevision > first.claimRevision);
    assert.equal(text((await queue.dequeue()).value), "job c");
    assert.deepEqual(await stored("queue-test/fifo/"), []);
  });

  it("queue: dequeues items put by etcdctl in write order, whatever their names", async () => {
    // Go's Queue orders by mod revision, not by key: names chosen against the write order.
    for (const [key, value] of [
      ["queue-test/go/3", "first"],
      ["queue-test/go/2", "second"],
      ["queue-test/go/1", "third"],
    ] as const) {
      await etcdctlRun(etcd.clientUrl, "put", key, value);
    }
    const queue = createQueue(client, "queue-test/go");
    const got: string[] = [];
    for (let i = 0; i < 3; i++) got.push(text((await queue.dequeue()).value) ?? "");
    assert.deepEqual(got, ["first", "second", "third"]);
    // What we enqueue, etcdctl reads where Go's Queue puts items.
    const key = await queue.enqueue("ours");
    assert.equal(await etcdctlRun(etcd.clientUrl, "get", "--print-value-only", key), "ours\n");
  });

  it("queue: dequeue waits on a watch while empty; consumers share items, each exactly once", async () => {
    const counted = countingWatches(client);
    const queue = createQueue(counted.client, "queue-test/wait");
    const watching = counted.nextWatch();
    const waiting = queue.dequeue();
    // The consumer waits on a watch, confirmed by etcd, before anything is enqueued.
    await (await watching).ready;
    await createQueue(client, "queue-test/wait").enqueue("late");
    assert.equal(text((await waiting).value), "late");
    assert.equal(counted.open(), 0, "dequeue() left a watch open");

    const consumers = Array.from({ length: 4 }, () => createQueue(client, "queue-test/wait"));
    const items = Array.from({ length: 12 }, (_, i) => `item ${String(i).padStart(2, "0")}`);
    const taking = consumers.map(async (consumer) => {
      const mine = [];
      for (let i = 0; i < 3; i++) mine.push(await consumer.dequeue());
      return mine;
    });
    for (const item of items) await queue.enqueue(item);
    const taken = (await Promise.all(taking)).flat();
    // Ordered by the claims' revisions, the items come out exactly in the order they went in.
    taken.sort((a, b) => (a.claimRevision < b.claimRevision ? -1 : 1));
    assert.deepEqual(
      taken.map((item) => text(item.value)),
      items,
    );
  });

  it("queue: an aborted dequeue rejects with canceled and takes nothing", async () => {
    const queue = createQueue(client, "queue-test/abort");
    const stop = new AbortController();
    const waiting = queue.dequeue({ signal: stop.signal });
    stop.abort();
    await assert.rejects(waiting, (error) => ConcurrencyError.is(error, "canceled"));
    await queue.enqueue("kept");
    assert.equal((await stored("queue-test/abort/")).length, 1);
    await assert.rejects(queue.dequeue({ signal: AbortSignal.abort() }), (error) =>
      ConcurrencyError.is(error, "canceled"),
    );
    assert.equal((await stored("queue-test/abort/")).length, 1);
  });

  it("priority queue: Go's layout, lowest number first, first in first out within a priority", async () => {
    const queue = createPriorityQueue(client, "pq-test/basic");
    assert.equal(await queue.enqueue("low a", 7), "pq-test/basic/00007/0000000000000000");
    assert.equal(await queue.enqueue("urgent", 0), "pq-test/basic/00000/0000000000000000");
    assert.equal(await queue.enqueue("low b", 7), "pq-test/basic/00007/0000000000000001");
    assert.equal(await queue.enqueue("least", 65535), "pq-test/basic/65535/0000000000000000");
    // The bookkeeping keys of Go's newSequentialKV: one per priority, empty.
    const bookkeeping = await client.get("__pq-test/basic/", { prefix: true });
    assert.deepEqual(
      bookkeeping.kvs.map((kv) => [text(kv.key), text(kv.value)]),
      [
        ["__pq-test/basic/00000", ""],
        ["__pq-test/basic/00007", ""],
        ["__pq-test/basic/65535", ""],
      ],
    );
    const got: string[] = [];
    for (let i = 0; i < 4; i++) got.push(text((await queue.dequeue()).value) ?? "");
    assert.deepEqual(got, ["urgent", "low a", "low b", "least"]);
  });

  it("priority queue: continues etcdctl's sequence, and dequeues what etcdctl put", async () => {
    await etcdctlRun(etcd.clientUrl, "put", "pq-test/go/00003/0000000000000041", "theirs");
    const queue = createPriorityQueue(client, "pq-test/go");
    assert.equal(await queue.enqueue("ours", 3), "pq-test/go/00003/0000000000000042");
    await etcdctlRun(etcd.clientUrl, "put", "pq-test/go/00001/0000000000000000", "theirs, urgent");
    const got: string[] = [];
    for (let i = 0; i < 3; i++) got.push(text((await queue.dequeue()).value) ?? "");
    assert.deepEqual(got, ["theirs, urgent", "theirs", "ours"]);
  });

  it("priority queue: concurrent producers on one priority never share a sequence number", async () => {
    const producers = Array.from({ length: 5 }, () => createPriorityQueue(client, "pq-test/race"));
    const keys = (
      await Promise.all(
        producers.map(async (p, i) => [await p.enqueue(`${i}-a`, 2), await p.enqueue(`${i}-b`, 2)]),
      )
    ).flat();
    assert.equal(new Set(keys).size, 10);
    assert.deepEqual(
      [...keys].sort(),
      Array.from({ length: 10 }, (_, i) => `pq-test/race/00002/${String(i).padStart(16, "0")}`),
    );
  });

  it("priority queue: refuses a bad priority before any request, and a foreign key with unexpected_key", async () => {
    const calls: string[] = [];
    const recording = new Proxy(client, {
      get(target, property, receiver) {
        calls.push(String(property));
        return Reflect.get(target, property, receiver);
      },
    }) as EtcdApi;
    const queue = createPriorityQueue(recording, "pq-test/bad");
    calls.length = 0;
    for (const priority of [-1, 65536, 1.5, Number.NaN]) {
      await assert.rejects(queue.enqueue("x", priority), (error) =>
        ConcurrencyError.is(error, "invalid_argument"),
      );
    }
    assert.deepEqual(calls, []);
    await client.put("pq-test/bad/00004/not-a-number", "x");
    await assert.rejects(queue.enqueue("x", 4), (error) => ConcurrencyError.is(error, "unexpected_key"));
  });
});
