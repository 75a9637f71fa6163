import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Client, createClient } from "@etcd-connect/client";
import { createPriorityQueue, createQueue } from "@etcd-connect/concurrency";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { type LineProcess, nextEvent, startWorker } from "./helpers.js";

interface Taken {
  consumer: number;
  value: string;
  claimRevision: bigint;
}

/** Collects every item a consumer process reports, until it exits (or is killed). */
async function collect(worker: LineProcess, consumer: number, into: Taken[]): Promise<void> {
  for (;;) {
    let line: string;
    try {
      line = await worker.nextLine();
    } catch {
      return; // exited
    }
    const record = JSON.parse(line) as { event: string; value: string; claimRevision: string };
    if (record.event === "item") {
      into.push({ consumer, value: record.value, claimRevision: BigInt(record.claimRevision) });
    }
  }
}

const byClaim = (a: Taken, b: Taken) => (a.claimRevision < b.claimRevision ? -1 : 1);

describe("queues consumed by several processes", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  const workers: LineProcess[] = [];
  let fifo: LineProcess[] = [];
  let priority: LineProcess[] = [];

  before(async () => {
    etcd = await startEtcd();
    client = createClient({ endpoints: [etcd.clientUrl] });
    // Booting takes seconds under load: every process of the file boots at once, gated.
    const start = (kind: string, id: number) => {
      const worker = startWorker(etcd.clientUrl, "consumer", { kind, id, name: `procs/${kind}`, gate: 1 });
      workers.push(worker);
      return worker;
    };
    fifo = [0, 1, 2].map((id) => start("queue", id));
    priority = [0, 1].map((id) => start("priority", id));
    for (const worker of workers) await nextEvent(worker, "booted");
  });
  after(async () => {
    for (const worker of workers) await worker.kill();
    await client?.close();
    await etcd?.close();
  });

  it("queue: 3 consumer processes, one SIGKILLed mid-stream; claims follow FIFO, no item twice", async () => {
    const queue = createQueue(client, "procs/queue");
    const taken: Taken[] = [];
    for (const worker of fifo) worker.send("go");
    for (const worker of fifo) await nextEvent(worker, "ready");
    const collecting = fifo.map((worker, i) => collect(worker, i, taken));
    const [victim] = fifo as [LineProcess, ...LineProcess[]];

    const items = Array.from({ length: 40 }, (_, i) => `item-${String(i).padStart(2, "0")}`);
    let killedAfter: number | undefined;
    for (const [i, item] of items.entries()) {
      await queue.enqueue(item);
      // Killed while items still flow, once it took one (or halfway, if it never got a turn).
      if (killedAfter === undefined && (taken.some((t) => t.consumer === 0) || i === 20)) {
        await victim.kill();
        killedAfter = i;
      }
    }
    await queue.enqueue("stop");
    await queue.enqueue("stop");
    for (const worker of fifo.slice(1)) assert.equal(await worker.exited, 0, worker.stderr);
    await Promise.all(collecting);

    const got = taken.filter((t) => t.value !== "stop").sort(byClaim);
    assert.equal(new Set(got.map((t) => t.value)).size, got.length, "an item was delivered twice");
    // In claim order, items come out in the order they went in, whoever took them.
    const positions = got.map((t) => items.indexOf(t.value));
    assert.deepEqual(
      positions,
      [...positions].sort((a, b) => a - b),
    );
    // Nothing left behind; at most the one item the victim claimed as it died went unreported.
    assert.equal((await client.get("procs/queue/", { prefix: true, countOnly: true })).count, 0n);
    assert.ok(items.length - got.length <= 1, `${items.length - got.length} items lost`);
    const per = [0, 1, 2].map((c) => got.filter((t) => t.consumer === c).length);
    console.log(`  figure: items per consumer ${per.join("/")}, victim killed after enqueue ${killedAfter}`);
  });

  it("priority queue: 2 consumer processes take items by priority, then FIFO within one", async () => {
    const queue = createPriorityQueue(client, "procs/priority");
    const expected: string[] = [];
    for (let i = 0; i < 24; i++) await queue.enqueue(`p${i % 3}-${String(i).padStart(2, "0")}`, i % 3);
    for (const p of [0, 1, 2])
      for (let i = p; i < 24; i += 3) expected.push(`p${p}-${String(i).padStart(2, "0")}`);
    await queue.enqueue("stop", 9);
    await queue.enqueue("stop", 9);

    const taken: Taken[] = [];
    for (const worker of priority) worker.send("go");
    const collecting = priority.map((worker, i) => collect(worker, i, taken));
    for (const worker of priority) assert.equal(await worker.exited, 0, worker.stderr);
    await Promise.all(collecting);
    const got = taken.filter((t) => t.value !== "stop").sort(byClaim);
    assert.deepEqual(
      got.map((t) => t.value),
      expected,
    );
  });
});
