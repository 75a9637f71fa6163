import { readFileSync } from "node:fs";
import { Etcd3, type Lease } from "etcd3";
import type { BenchClient, BenchTls, Closer, KeptLeases } from "./bench-client.js";
import { runBounded } from "./bounded.js";
import { deferred } from "./deferred.js";

// etcd3 1.1.2 (npm, on grpc-js), used the way its README shows.

/** Workload put-*: one KV put. */
async function etcd3Put(client: Etcd3, key: string, value: Buffer): Promise<void> {
  await client.put(key).value(value);
}

/** Workloads get-*: one KV get. */
async function etcd3Get(client: Etcd3, key: string, serializable: boolean): Promise<void> {
  await client.get(key).serializable(serializable).buffer();
}

/** Workload txn-16: compare-and-put. */
async function etcd3TxnPut(client: Etcd3, key: string, value: Buffer): Promise<void> {
  await client.if(key, "Version", ">", 0).then(client.put(key).value(value)).commit();
}

/** Many puts in one txn (the fan-in writer is always ours; this keeps the interface whole). */
async function etcd3PutBatch(client: Etcd3, keys: readonly string[], value: Buffer): Promise<void> {
  const [first = ""] = keys;
  await client
    .if(first, "Version", ">", -1)
    .then(...keys.map((key) => client.put(key).value(value)))
    .commit();
}

/** Workloads watch-fan-in, watch-fan-in-1 and watch-catch-up: a prefix watcher with a `put` listener. */
async function etcd3WatchPrefix(
  client: Etcd3,
  prefix: string,
  onEvent: (value: Uint8Array) => void,
  startRevision: number | undefined,
): Promise<Closer> {
  const builder = client.watch().prefix(prefix);
  if (startRevision !== undefined) builder.startRevision(String(startRevision));
  const watcher = await builder.create();
  watcher.on("put", (kv) => onEvent(kv.value));
  return () => watcher.cancel();
}

/** Workload watchers-10k: one watcher per key on etcd3's shared watch stream. */
async function etcd3WatchKeys(client: Etcd3, keys: readonly string[]): Promise<Closer> {
  const watchers = await Promise.all(keys.map((key) => client.watch().key(key).create()));
  // Cancelling one by one takes a round trip each; closing the client ends them all.
  return async () => {
    watchers.length = 0;
  };
}

/**
 * The leases workloads: etcd3 leases (a keepalive stream each, started by etcd3 once the grant
 * returns), created `grantConcurrency` at once: each waits for its grant.
 */
async function etcd3KeepLeases(
  client: Etcd3,
  count: number,
  ttlSeconds: number,
  grantConcurrency: number,
  onKeepAlive: () => void,
): Promise<KeptLeases> {
  const established = deferred<void>();
  // Awaited by the workload after the grants; a lease lost meanwhile must not be an unhandled rejection.
  established.promise.catch(() => {});
  let firstAcks = 0;
  const leases: Lease[] = [];
  await runBounded(count, grantConcurrency, async () => {
    const lease = client.lease(ttlSeconds);
    let acked = false;
    lease.on("keepaliveSucceeded", () => {
      onKeepAlive();
      if (!acked) {
        acked = true;
        if (++firstAcks === count) established.resolve();
      }
    });
    lease.on("lost", (error) => established.reject(error));
    leases.push(lease);
    await lease.grant();
  });
  return {
    answered: established.promise,
    close: async () => {
      for (const lease of leases) lease.release();
    },
  };
}

/** etcd3 (npm) behind the workloads' interface. */
export function createEtcd3Client(endpoint: string, tls: BenchTls | undefined): BenchClient {
  const credentials =
    tls === undefined
      ? undefined
      : {
          rootCertificate: readFileSync(tls.ca),
          certChain: readFileSync(tls.cert),
          privateKey: readFileSync(tls.key),
        };
  const client = new Etcd3({
    hosts: endpoint,
    ...(credentials === undefined ? {} : { credentials }),
    // grpc-js refuses answers over 4 MiB by default, and etcd sends a watcher that is behind 1,000
    // revisions in one answer (38 MB in watch-catch-up): the watch would fail and be created again
    // from the same revision, forever. Ours and Go's clientv3 take up to 2^31-1 bytes by default.
    grpcOptions: { "grpc.max_receive_message_length": 2 ** 31 - 1 },
  });
  return {
    warm: () => etcd3Get(client, "warm-up", false),
    put: (key, value) => etcd3Put(client, key, value),
    get: (key, serializable) => etcd3Get(client, key, serializable),
    txnPut: (key, value) => etcd3TxnPut(client, key, value),
    putBatch: (keys, value) => etcd3PutBatch(client, keys, value),
    watchPrefix: (prefix, onEvent, startRevision) => etcd3WatchPrefix(client, prefix, onEvent, startRevision),
    watchKeys: (keys) => etcd3WatchKeys(client, keys),
    keepLeases: (count, ttlSeconds, grantConcurrency, onKeepAlive) =>
      etcd3KeepLeases(client, count, ttlSeconds, grantConcurrency, onKeepAlive),
    close: async () => client.close(),
  };
}
