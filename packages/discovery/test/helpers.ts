// Shared pieces of the discovery tests.

import { bytesToText, type EtcdApi, Txn, type WatchApi } from "@etcd-connect/client";
import type { Endpoint, EndpointManager, EndpointSnapshot } from "@etcd-connect/discovery";

/** Every key and value under `prefix`, as stored (read with the plain client), in key order. */
export async function stored(
  client: EtcdApi,
  prefix: string,
  revision?: bigint,
): Promise<Map<string, string>> {
  const res = await client.get(prefix, { prefix: true, ...(revision === undefined ? {} : { revision }) });
  return new Map(res.kvs.map((kv) => [bytesToText(kv.key), bytesToText(kv.value)]));
}

/** Endpoints as plain data, for deepEqual. */
export function plain(endpoints: ReadonlyMap<string, Endpoint>): Record<string, Endpoint> {
  return Object.fromEntries(endpoints);
}

/** A manager's watch, read one snapshot at a time. */
export class Snapshots {
  readonly abort = new AbortController();
  private readonly iterator: AsyncIterator<EndpointSnapshot>;

  constructor(manager: EndpointManager) {
    this.iterator = manager.watch({ signal: this.abort.signal })[Symbol.asyncIterator]();
  }

  /** The next snapshot; fails if the watch ended. */
  async next(): Promise<EndpointSnapshot> {
    const result = await this.iterator.next();
    if (result.done) throw new Error("the endpoint watch ended");
    return result.value;
  }

  /** Reads snapshots until one satisfies `check`; returns it. */
  async until(check: (snapshot: EndpointSnapshot) => boolean): Promise<EndpointSnapshot> {
    for (;;) {
      const snapshot = await this.next();
      if (check(snapshot)) return snapshot;
    }
  }

  /** Ends the watch (leaving the loop, as a `break` would). */
  async close(): Promise<void> {
    await this.iterator.return?.();
  }
}

/** A client and how many calls went through it: shows that refused input sent nothing. */
export interface CallCount {
  client: EtcdApi;
  calls: () => number;
}

/** A client that counts the calls made through it. */
export function countingClient(client: EtcdApi): CallCount {
  let calls = 0;
  const count = <T>(value: T): T => {
    calls++;
    return value;
  };
  const watchApi: WatchApi = {
    watch: (key, options) => count(client.watch(key, options)),
    requestProgress: (options) => count(client.requestProgress(options)),
  };
  return {
    client: {
      get: (key, options) => count(client.get(key, options)),
      put: (key, value, options) => count(client.put(key, value, options)),
      delete: (key, options) => count(client.delete(key, options)),
      // Counts commits, not builders: a txn refused before it is sent was never a call.
      txn: () =>
        new Txn((request, options) =>
          count(
            client
              .txn()
              .if(...request.compare)
              .then(...request.success)
              .else(...request.failure)
              .commit(options),
          ),
        ),
      compact: (revision, options) => count(client.compact(revision, options)),
      get lease() {
        calls++;
        return client.lease;
      },
      ...watchApi,
    },
    calls: () => calls,
  };
}

/** Polls until `check` holds: for state etcd changes in the background (a lease running out). */
export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A client that passes every call on to `client`, except the ones given. */
export function delegating(client: EtcdApi, overrides: Partial<Omit<EtcdApi, "lease">>): EtcdApi {
  return {
    get: (key, options) => client.get(key, options),
    put: (key, value, options) => client.put(key, value, options),
    delete: (key, options) => client.delete(key, options),
    txn: () => client.txn(),
    compact: (revision, options) => client.compact(revision, options),
    watch: (key, options) => client.watch(key, options),
    requestProgress: (options) => client.requestProgress(options),
    lease: client.lease,
    ...overrides,
  };
}
