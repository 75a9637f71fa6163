// One contender of the multi-process tests, in a process of its own (own client, own leases):
// `node --conditions=source --import tsx recipe-worker.ts <role> <json args>`, with the etcd
// endpoints in ETCD_ENDPOINTS. It prints JSON lines ({ "event": ... }) for the test to follow.
import { appendFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { bytesToText, createClient } from "@etcd-connect/client";
import {
  createBarrier,
  createDoubleBarrier,
  createPriorityQueue,
  createQueue,
  createRWMutex,
  createSession,
  withLock,
} from "@etcd-connect/concurrency";

const [role = "", json = "{}"] = process.argv.slice(2);
const args = JSON.parse(json) as Record<string, string | number>;
const str = (name: string) => String(args[name]);
const num = (name: string) => Number(args[name]);
const say = (record: Record<string, unknown>) =>
  console.log(JSON.stringify(record, (_, v) => (typeof v === "bigint" ? v.toString() : v)));
/** A record of a critical section, appended to the shared log: O_APPEND keeps real-time order. */
const log = (record: Record<string, unknown>) =>
  appendFileSync(str("log"), `${JSON.stringify({ id: str("id"), ...record })}\n`);

const client = createClient({ endpoints: (process.env.ETCD_ENDPOINTS ?? "").split(",") });

/** Stays alive (the client keeps the lease alive) until the test SIGKILLs us. */
function hang(): Promise<never> {
  setInterval(() => {}, 60_000);
  return new Promise<never>(() => {});
}

async function rwVictim(): Promise<void> {
  const session = await createSession(client, { ttl: num("ttl") });
  const rw = createRWMutex(session, str("name"));
  await rw.lock();
  log({ event: "enter", mode: "write", rev: String(rw.header?.revision) });
  say({ event: "holding", key: rw.key, revision: rw.header?.revision });
  await hang();
}

/** Rounds of read and write locks; writers bump a counter without a guard, readers check it stays put. */
async function rwContender(): Promise<void> {
  await using session = await createSession(client, { ttl: num("ttl") });
  const rw = createRWMutex(session, str("name"));
  const counter = str("counter");
  for (let round = 0; round < num("rounds"); round++) {
    const write = (num("id") + round) % 3 === 0;
    if (write) {
      await rw.lock();
      log({ event: "enter", mode: "write", rev: String(rw.header?.revision) });
      // Read-modify-write with no guard: an overlapping writer would lose an update.
      const value = Number(await client.getText(counter));
      await client.put(counter, String(value + 1));
      log({ event: "exit", mode: "write" });
      await rw.unlock();
    } else {
      await rw.rLock();
      log({ event: "enter", mode: "read", rev: String(rw.header?.revision) });
      const before = await client.getText(counter);
      const after = await client.getText(counter);
      if (before !== after) log({ event: "violation", what: `counter moved from ${before} to ${after}` });
      log({ event: "exit", mode: "read" });
      await rw.rUnlock();
    }
  }
  say({ event: "done" });
}

async function lockVictim(): Promise<void> {
  await withLock(
    client,
    str("name"),
    async (_signal, mutex) => {
      log({ event: "enter", mode: "write", rev: String(mutex.header?.revision) });
      say({ event: "holding", key: mutex.key, revision: mutex.revision });
      await hang();
    },
    { ttl: num("ttl") },
  );
}

async function lockContender(): Promise<void> {
  const counter = str("counter");
  for (let round = 0; round < num("rounds"); round++) {
    await withLock(
      client,
      str("name"),
      async (signal, mutex) => {
        log({ event: "enter", mode: "write", rev: String(mutex.header?.revision) });
        const value = Number(await client.getText(counter, { signal }));
        await client.put(counter, String(value + 1), { signal });
        log({ event: "exit", mode: "write" });
      },
      { ttl: num("ttl") },
    );
  }
  say({ event: "done" });
}

/** Dequeues and reports each item until it gets "stop". */
async function consumer(): Promise<void> {
  const queue =
    str("kind") === "priority" ? createPriorityQueue(client, str("name")) : createQueue(client, str("name"));
  say({ event: "ready" });
  for (;;) {
    const item = await queue.dequeue();
    const value = bytesToText(item.value);
    say({ event: "item", value, claimRevision: item.claimRevision });
    if (value === "stop") return;
  }
}

async function barrierWaiter(): Promise<void> {
  const barrier = createBarrier(client, str("name"));
  say({ event: "waiting" });
  await barrier.wait();
  const res = await client.put(`${str("records")}passed/${str("id")}`, "");
  say({ event: "passed", revision: res.header?.revision });
}

async function doubleBarrierParticipant(): Promise<void> {
  const session = await createSession(client, { ttl: num("ttl") });
  const barrier = createDoubleBarrier(session, str("name"), num("count"));
  await barrier.enter();
  const entered = await client.put(`${str("records")}entered/${str("id")}`, "");
  say({ event: "entered", key: barrier.key, revision: entered.header?.revision });
  if (num("victim") === 1) await hang();
  await barrier.leave();
  const left = await client.put(`${str("records")}left/${str("id")}`, "");
  say({ event: "left", revision: left.header?.revision });
  await session.close();
}

const roles: Record<string, () => Promise<void>> = {
  "rw-victim": rwVictim,
  "rw-contender": rwContender,
  "lock-victim": lockVictim,
  "lock-contender": lockContender,
  consumer,
  "barrier-waiter": barrierWaiter,
  "double-barrier": doubleBarrierParticipant,
};

const run = roles[role];
if (run === undefined) throw new Error(`unknown role ${role}`);
if (args.gate === 1) {
  // Booting takes seconds under load: the test starts every process first, then lets them go at once.
  say({ event: "booted" });
  const lines = createInterface({ input: process.stdin });
  await new Promise<void>((resolve) => lines.once("line", () => resolve()));
  lines.close();
}
try {
  await run();
} finally {
  await client.close();
}
