// node --expose-gc --conditions=source --import tsx mirror-bench.ts (from bench/): what a mirror
// of a large prefix costs. One etcd from @etcd-connect/testing, MIRROR_BENCH_KEYS keys (default
// 100,000) with values of MIRROR_BENCH_VALUE_BYTES bytes (default 128); then, for values kept as
// bytes (the default) and as text (decode: bytesToText): the time to `ready`, the memory per key
// after a full GC (V8 heap, ArrayBuffer contents outside it, RSS less V8's young generation: see
// `settle` in measure.ts), how far behind a burst of writes the mirror is when the last one is
// acknowledged, and how long a resync of the whole prefix takes after its watch's history was
// compacted. Figures go to stdout; nothing is written.
import { setTimeout as sleep } from "node:timers/promises";
import {
  bytesToText,
  type Client,
  createClient,
  createMirror,
  type Mirror,
  opPut,
} from "@etcd-connect/client";
import { startEtcd } from "@etcd-connect/testing";
import { settle } from "./measure.js";

const keys = Number(process.env.MIRROR_BENCH_KEYS ?? 100_000);
const valueBytes = Number(process.env.MIRROR_BENCH_VALUE_BYTES ?? 128);
const burst = Math.min(keys, 20_000);
const prefix = "mirror/";
const keyOf = (n: number) => `${prefix}${String(n).padStart(7, "0")}`;
const opsPerTxn = 128;

if (globalThis.gc === undefined)
  throw new Error("run with --expose-gc: node --expose-gc --conditions=source --import tsx mirror-bench.ts");

// `count` puts over the keys from `first` on, 128 to a txn, 16 txns at a time; the last revision.
async function writeKeys(client: Client, first: number, count: number, value: string): Promise<bigint> {
  let next = first;
  let last = 0n;
  const end = first + count;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < end) {
        const from = next;
        next = Math.min(end, next + opsPerTxn);
        const ops = [];
        for (let n = from; n < next; n++) ops.push(opPut(keyOf(n % keys), value));
        const revision =
          (
            await client
              .txn()
              .then(...ops)
              .commit()
          ).header?.revision ?? 0n;
        if (revision > last) last = revision;
      }
    }),
  );
  return last;
}

async function waitForRevision(mirror: Mirror<unknown>, revision: bigint): Promise<void> {
  while (mirror.revision < revision) await sleep(1);
}

const perKey = (bytes: number) => (bytes / keys).toFixed(0);

const etcd = await startEtcd({ faults: true, quotaBackendBytes: 4 * 1024 ** 3 });
try {
  const proxy = etcd.clientProxy;
  if (proxy === undefined) throw new Error("startEtcd({ faults: true }) gives a client proxy");
  await using writer = createClient({ endpoints: [etcd.directClientUrl] });
  const seeded = Date.now();
  await writeKeys(writer, 0, keys, "v".repeat(valueBytes));
  console.log(
    `etcd 3.4 on ${etcd.directClientUrl}: ${keys} keys of ${valueBytes}-byte values under "${prefix}" written in ${Date.now() - seeded} ms`,
  );
  console.log("");
  console.log(
    "| values | ready (ms) | heap B/key | ArrayBuffer B/key | RSS B/key | " +
      `${burst} puts written (ms) | mirrored after the last one (ms) | resync of ${keys} keys (ms) |`,
  );
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const [name, decode] of [
    ["bytes", undefined],
    ["text", bytesToText],
  ] as const) {
    // Through the proxy, so the resync below can cut the mirror's watch off.
    const client = createClient({ endpoints: [etcd.clientUrl] });
    await client.get(prefix, { countOnly: true });
    const before = await settle();
    const started = Date.now();
    const mirror: Mirror<unknown> =
      decode === undefined ? createMirror(client, prefix) : createMirror(client, prefix, { decode });
    await mirror.ready;
    const readyMs = Date.now() - started;
    if (mirror.size !== keys) throw new Error(`mirrored ${mirror.size} keys of ${keys}`);
    const after = await settle();

    // Catch-up: how long the burst took to write, and how far behind its last write the mirror was.
    const burstStarted = Date.now();
    const last = await writeKeys(writer, 0, burst, `${name}-burst`.padEnd(valueBytes, "x"));
    const burstEnded = Date.now();
    await waitForRevision(mirror, last);
    const burstMs = burstEnded - burstStarted;
    const lagMs = Date.now() - burstEnded;

    // Resync: the watch is cut off while keys change and the history is compacted; from the
    // link's return to the resync's batch.
    const changes = mirror.changes();
    proxy.blackhole();
    const changed = await writeKeys(writer, 0, 1000, `${name}-gone`.padEnd(valueBytes, "y"));
    await writer.compact(changed, { physical: true });
    const resyncStarted = Date.now();
    proxy.heal();
    proxy.reset();
    const resync = await changes.next();
    const resyncMs = Date.now() - resyncStarted;
    if (resync.value?.kind !== "resync" || resync.value.changes.length !== 1000) {
      throw new Error(
        `expected a resync of 1000 changes, got ${resync.value?.kind} of ${resync.value?.changes.length}`,
      );
    }
    await changes.return?.();
    console.log(
      `| ${name} | ${readyMs} | ${perKey(after.heapUsed - before.heapUsed)} | ${perKey(after.arrayBuffers - before.arrayBuffers)} | ${perKey(after.rss - before.rss)} | ${burstMs} | ${lagMs} | ${resyncMs} |`,
    );
    await mirror.close();
    await client.close();
  }
  console.log("");
  console.log(
    "heap: V8 heap (map, entries, keys, text values); ArrayBuffer: byte values' contents outside the heap; RSS: the process's resident memory less V8's young generation, which also keeps what the GC freed, so only an upper bound.",
  );
} finally {
  await etcd.close();
}
