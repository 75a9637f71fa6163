import { readFileSync } from "node:fs";
import { type Client, compare, createClient, type LeaseKeeper, opPut } from "@etcd-connect/client";
import type { BenchClient, BenchTls, Closer, KeptLeases } from "./bench-client.js";
import { runBounded } from "./bounded.js";

/** Workload put-*: one KV put. */
async function oursPut(client: Client, key: string, value: Buffer): Promise<void> {
  await client.put(key, value);
}

/** Workloads get-*: one KV get. */
async function oursGet(client: Client, key: string, serializable: boolean): Promise<void> {
  await client.get(key, { serializable });
}

/** Workload txn-16: compare-and-put. */
async function oursTxnPut(client: Client, key: string, value: Buffer): Promise<void> {
  await client
    .txn()
    .if(compare.version(key, ">", 0))
    .then(opPut(key, value))
    .commit();
}

/** The writer of watch-fan-in: many puts in one txn, so etcd makes events faster than put by put. */
async function oursPutBatch(client: Client, keys: readonly string[], value: Buffer): Promise<void> {
  await client
    .txn()
    .then(...keys.map((key) => opPut(key, value)))
    .commit();
}

const noValue = new Uint8Array(0);

/** Workloads watch-fan-in, watch-fan-in-1 and watch-catch-up: one prefix watcher, read batch by batch. */
async function oursWatchPrefix(
  client: Client,
  prefix: string,
  onEvent: (value: Uint8Array) => void,
  startRevision: number | undefined,
): Promise<Closer> {
  const watcher = client.watch(prefix, {
    prefix: true,
    ...(startRevision === undefined ? {} : { startRevision: BigInt(startRevision) }),
  });
  const reading = (async () => {
    for await (const batch of watcher) {
      for (const event of batch.events) onEvent(event.kv?.value ?? noValue);
    }
  })();
  await Promise.race([watcher.ready, reading]);
  return async () => {
    await watcher.close();
    await reading;
  };
}

/** Workload watchers-10k: one watcher per key (the client puts them all on one stream). */
async function oursWatchKeys(client: Client, keys: readonly string[]): Promise<Closer> {
  const watchers = keys.map((key) => client.watch(key));
  await Promise.all(watchers.map((watcher) => watcher.ready));
  return async () => {
    await Promise.all(watchers.map((watcher) => watcher.close()));
  };
}

/**
 * The leases workloads: grants, `grantConcurrency` at once, each lease handed to
 * `client.lease.keepAlive` (one stream for all) as its grant returns. Answers are counted through
 * the client's observer (see createOursClient), so no per-lease reader runs.
 */
async function oursKeepLeases(
  client: Client,
  count: number,
  ttlSeconds: number,
  grantConcurrency: number,
): Promise<KeptLeases> {
  const keepers: LeaseKeeper[] = [];
  // Each keeper yields its answers; its first one says the lease is kept.
  const firstAnswers: Array<Promise<boolean>> = [];
  await runBounded(count, grantConcurrency, async () => {
    const { ID } = await client.lease.grant(ttlSeconds);
    const keeper = client.lease.keepAlive(ID);
    keepers.push(keeper);
    firstAnswers.push(
      keeper[Symbol.asyncIterator]()
        .next()
        .then(
          (first) => first.done !== true,
          () => false,
        ),
    );
  });
  return {
    answered: Promise.all(firstAnswers).then((kept) => {
      const notKept = kept.indexOf(false);
      if (notKept >= 0) throw new Error(`lease ${keepers[notKept]?.id} was not kept alive`);
    }),
    close: async () => {
      await Promise.all(keepers.map((keeper) => keeper.close()));
    },
  };
}

/** @etcd-connect/client behind the workloads' interface. */
export function createOursClient(endpoint: string, tls: BenchTls | undefined): BenchClient {
  let onKeepAlive: (() => void) | undefined;
  const client = createClient({
    endpoints: [endpoint],
    ...(tls === undefined
      ? {}
      : { tls: { ca: readFileSync(tls.ca), cert: readFileSync(tls.cert), key: readFileSync(tls.key) } }),
    observer: { onKeepAliveRoundTrip: () => onKeepAlive?.() },
  });
  return {
    warm: () => oursGet(client, "warm-up", false),
    put: (key, value) => oursPut(client, key, value),
    get: (key, serializable) => oursGet(client, key, serializable),
    txnPut: (key, value) => oursTxnPut(client, key, value),
    putBatch: (keys, value) => oursPutBatch(client, keys, value),
    watchPrefix: (prefix, onEvent, startRevision) => oursWatchPrefix(client, prefix, onEvent, startRevision),
    watchKeys: (keys) => oursWatchKeys(client, keys),
    keepLeases: (count, ttlSeconds, grantConcurrency, callback) => {
      onKeepAlive = callback;
      return oursKeepLeases(client, count, ttlSeconds, grantConcurrency);
    },
    close: () => client.close(),
  };
}
