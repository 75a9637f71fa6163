import { type Client, compare, createClient, opPut, prefixEnd, toBytes } from "@etcd-connect/client";
import type { BenchClient, Closer } from "./bench-client.js";
import { deferred } from "./deferred.js";
import { RequestQueue } from "./request-queue.js";

// @etcd-connect/client has no Watch or Lease facade yet, so those workloads drive the
// generated Connect clients (`client.rpc.watch`, `client.rpc.lease`) directly: one bidi
// stream carries every watch, one carries every keepalive. When the facades land, only
// the functions marked "FACADE SWITCH" change.

type RpcClients = Client["rpc"];
type RequestOf<F> = F extends (requests: AsyncIterable<infer T>, ...rest: never[]) => unknown ? T : never;
type ResponseOf<F> = F extends (...args: never[]) => AsyncIterable<infer T> ? T : never;
type WatchRequestInit = RequestOf<RpcClients["watch"]["watch"]>;
type WatchResponse = ResponseOf<RpcClients["watch"]["watch"]>;
type KeepAliveRequestInit = RequestOf<RpcClients["lease"]["leaseKeepAlive"]>;
type KeepAliveResponse = ResponseOf<RpcClients["lease"]["leaseKeepAlive"]>;

interface RawStream<Req> {
  requests: RequestQueue<Req>;
  /** Settles when the response stream ends or fails. */
  done: Promise<void>;
  close(): Promise<void>;
}

function openStream<Req, Res>(
  call: (requests: AsyncIterable<Req>, options: { signal: AbortSignal }) => AsyncIterable<Res>,
  onResponse: (res: Res) => void,
): RawStream<Req> {
  const requests = new RequestQueue<Req>();
  const abort = new AbortController();
  const done = (async () => {
    for await (const res of call(requests, { signal: abort.signal })) onResponse(res);
  })();
  return {
    requests,
    done,
    async close() {
      requests.end();
      abort.abort();
      await done.catch(() => undefined);
    },
  };
}

function createRequest(key: Uint8Array, rangeEnd?: Uint8Array): WatchRequestInit {
  return {
    requestUnion: { case: "createRequest", value: rangeEnd === undefined ? { key } : { key, rangeEnd } },
  };
}

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

/** Workload watch-fan-in. FACADE SWITCH: raw Watch stream until a Watch facade exists. */
async function oursWatchPrefix(
  client: Client,
  prefix: string,
  onEvents: (count: number) => void,
): Promise<Closer> {
  const created = deferred<void>();
  const stream = openStream(
    (requests: AsyncIterable<WatchRequestInit>, options) => client.rpc.watch.watch(requests, options),
    (res: WatchResponse) => {
      if (res.created) created.resolve();
      if (res.canceled) created.reject(new Error(`watch canceled: ${res.cancelReason}`));
      if (res.events.length > 0) onEvents(res.events.length);
    },
  );
  stream.done.then(() => created.reject(new Error("watch stream ended")), created.reject);
  const key = toBytes(prefix);
  stream.requests.push(createRequest(key, prefixEnd(key)));
  await created.promise;
  return () => stream.close();
}

/** Workload watchers-10k. FACADE SWITCH: raw Watch stream until a Watch facade exists. */
async function oursWatchKeys(client: Client, keys: readonly string[]): Promise<Closer> {
  const allCreated = deferred<void>();
  let created = 0;
  const stream = openStream(
    (requests: AsyncIterable<WatchRequestInit>, options) => client.rpc.watch.watch(requests, options),
    (res: WatchResponse) => {
      if (res.canceled) allCreated.reject(new Error(`watch canceled: ${res.cancelReason}`));
      if (res.created && ++created === keys.length) allCreated.resolve();
    },
  );
  stream.done.then(() => allCreated.reject(new Error("watch stream ended")), allCreated.reject);
  for (const key of keys) stream.requests.push(createRequest(toBytes(key)));
  await allCreated.promise;
  return () => stream.close();
}

/** Workload leases-1k. FACADE SWITCH: raw LeaseGrant + LeaseKeepAlive until a Lease facade exists. */
async function oursKeepLeases(
  client: Client,
  count: number,
  ttlSeconds: number,
  onKeepAlive: () => void,
): Promise<Closer> {
  const grants = await Promise.all(
    Array.from({ length: count }, () => client.rpc.lease.leaseGrant({ TTL: BigInt(ttlSeconds) })),
  );
  const ids = grants.map((grant) => grant.ID);
  const established = deferred<void>();
  const acked = new Set<bigint>();
  const stream = openStream(
    (requests: AsyncIterable<KeepAliveRequestInit>, options) =>
      client.rpc.lease.leaseKeepAlive(requests, options),
    (res: KeepAliveResponse) => {
      if (res.TTL <= 0n) established.reject(new Error(`lease ${res.ID} expired`));
      onKeepAlive();
      if (acked.size < count) {
        acked.add(res.ID);
        if (acked.size === count) established.resolve();
      }
    },
  );
  stream.done.then(() => established.reject(new Error("keepalive stream ended")), established.reject);
  const keepAll = () => {
    for (const ID of ids) stream.requests.push({ ID });
  };
  keepAll();
  const timer = setInterval(keepAll, (ttlSeconds * 1000) / 3);
  try {
    await established.promise;
  } catch (error) {
    clearInterval(timer);
    await stream.close();
    throw error;
  }
  return async () => {
    clearInterval(timer);
    await stream.close();
  };
}

/** @etcd-connect/client behind the workloads' interface. */
export function createOursClient(endpoint: string): BenchClient {
  const client = createClient({ endpoints: [endpoint] });
  return {
    warm: () => oursGet(client, "warm-up", false),
    put: (key, value) => oursPut(client, key, value),
    get: (key, serializable) => oursGet(client, key, serializable),
    txnPut: (key, value) => oursTxnPut(client, key, value),
    watchPrefix: (prefix, onEvents) => oursWatchPrefix(client, prefix, onEvents),
    watchKeys: (keys) => oursWatchKeys(client, keys),
    keepLeases: (count, ttlSeconds, onKeepAlive) => oursKeepLeases(client, count, ttlSeconds, onKeepAlive),
    close: () => client.close(),
  };
}
