/** The two clients under test; each runs in its own worker process. */
export type ClientName = "ours" | "etcd3";

export const clientNames: readonly ClientName[] = ["ours", "etcd3"];

/** Stops what a workload started (a watch stream, lease keepalives). */
export type Closer = () => Promise<void>;

/**
 * What a workload needs from a client. `ours-client.ts` and `etcd3-client.ts` implement it with
 * one function per workload (`oursWatchKeys`, `etcd3WatchKeys`, ...), so changing how a client
 * does one workload touches one function.
 */
export interface BenchClient {
  /** One completed call, so the connection is up before anything is measured. */
  warm(): Promise<void>;
  put(key: string, value: Buffer): Promise<void>;
  get(key: string, serializable: boolean): Promise<void>;
  /** Compare-and-put: if the key exists (version > 0), put the value. */
  txnPut(key: string, value: Buffer): Promise<void>;
  /** Puts every key in one txn (one revision, one event per key); the fan-in writer's call. */
  putBatch(keys: readonly string[], value: Buffer): Promise<void>;
  /** One watcher on a prefix; `onEvents` gets the number of events each time some arrive. */
  watchPrefix(prefix: string, onEvents: (count: number) => void): Promise<Closer>;
  /** One watcher per key; resolves once etcd has confirmed every one. */
  watchKeys(keys: readonly string[]): Promise<Closer>;
  /**
   * Grants `count` leases and keeps them alive (a keepalive every ttl/3); resolves once every
   * lease has had its first keepalive answered. `onKeepAlive` runs on every answered keepalive.
   */
  keepLeases(count: number, ttlSeconds: number, onKeepAlive: () => void): Promise<Closer>;
  close(): Promise<void>;
}
