import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Client, createClient } from "@etcd-connect/client";
import { createBarrier } from "@etcd-connect/concurrency";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { deletedAt, type LineProcess, nextEvent, startWorker, waitForKeys } from "./helpers.js";

/** Short, so the SIGKILLed participant is counted out within the test's time. */
const ttl = 2;

interface Passed {
  event: string;
  key?: string;
  revision: string;
}

// Every check compares etcd revisions: a process that got through early would have written its
// record at a revision before the event that lets it through.
describe("barriers crossed by several processes", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  const workers: LineProcess[] = [];
  let waiters: LineProcess[] = [];
  let participants: LineProcess[] = [];
  const count = async (prefix: string) => (await client.get(prefix, { prefix: true, countOnly: true })).count;

  before(async () => {
    etcd = await startEtcd();
    client = createClient({ endpoints: [etcd.clientUrl] });
    const start = (role: string, args: Record<string, string | number>) => {
      const worker = startWorker(etcd.clientUrl, role, { ...args, gate: 1 });
      workers.push(worker);
      return worker;
    };
    // Booting takes seconds under load: every process of the file boots at once, gated.
    waiters = [0, 1, 2].map((id) =>
      start("barrier-waiter", { id, name: "procs/gate", records: "procs/gate-records/" }),
    );
    participants = [0, 1, 2].map((id) =>
      start("double-barrier", {
        id,
        name: "procs/double",
        count: 3,
        ttl,
        victim: id === 2 ? 1 : 0,
        records: "procs/double-records/",
      }),
    );
    for (const worker of workers) await nextEvent(worker, "booted");
  });
  after(async () => {
    for (const worker of workers) await worker.kill();
    await client?.close();
    await etcd?.close();
  });

  it("barrier: 3 waiting processes, none passes before the release", async () => {
    const barrier = createBarrier(client, "procs/gate");
    assert.equal(await barrier.hold(), true);
    const held = await client.get("procs/gate");
    for (const worker of waiters) worker.send("go");
    for (const worker of waiters) await nextEvent(worker, "waiting");
    assert.equal(await count("procs/gate-records/"), 0n);

    await barrier.release();
    const releasedAt = await deletedAt(client, "procs/gate", held.header?.revision ?? 0n);
    for (const worker of waiters) {
      const passed = await nextEvent<Passed>(worker, "passed");
      assert.ok(
        BigInt(passed.revision) > releasedAt,
        `passed at ${passed.revision}, released at ${releasedAt}`,
      );
      assert.equal(await worker.exited, 0, worker.stderr);
    }
  });

  it("double barrier: nobody enters before all 3 joined; with one SIGKILLed inside, the others leave after its lease expires", async () => {
    const [p0, p1, victim] = participants as [LineProcess, LineProcess, LineProcess];
    p0.send("go");
    p1.send("go");
    await waitForKeys(client, "procs/double/waiters/", 2);
    // Two of three joined: nobody is in.
    assert.equal(await count("procs/double-records/"), 0n);
    victim.send("go");

    const entered = await Promise.all([p0, p1, victim].map((w) => nextEvent<Passed>(w, "entered")));
    const ready = await client.get("procs/double/ready");
    const readyAt = ready.kvs[0]?.modRevision ?? 0n;
    // The ready key was put once all three had joined (read as of that revision: the two that
    // live are leaving already), and everyone entered after it.
    const joined = await client.get("procs/double/waiters/", { prefix: true, revision: readyAt });
    assert.equal(joined.kvs.length, 3);
    for (const kv of joined.kvs) assert.ok(kv.createRevision < readyAt);
    for (const e of entered) assert.ok(BigInt(e.revision) > readyAt, `entered at ${e.revision} < ${readyAt}`);

    // The victim dies inside; its key stays until its lease expires.
    await victim.kill();
    const victimKey = entered[2]?.key ?? "";
    const expiredAt = await deletedAt(client, victimKey, readyAt);
    for (const worker of [p0, p1]) {
      const left = await nextEvent<Passed>(worker, "left");
      assert.ok(
        BigInt(left.revision) > expiredAt,
        `left at ${left.revision}, victim expired at ${expiredAt}`,
      );
      assert.equal(await worker.exited, 0, worker.stderr);
    }
    assert.equal(await count("procs/double/"), 0n);
  });
});
