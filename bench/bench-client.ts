/**
 * The clients under test, each in its own worker process: ours, etcd3 (npm) and Go's clientv3
 * (`go/main.go`, which runs the same workloads but does not implement `BenchClient`).
 */
export type ClientName = "ours" | "etcd3" | "go";

/** The order the clients run in within a round. */
export const clientNames: readonly ClientName[] = ["ours", "etcd3", "go"];

/** The clients ours is compared with: every ratio is ours / one of them. */
export type Rival = Exclude<ClientName, "ours">;

export const rivals: readonly Rival[] = ["etcd3", "go"];

/** The clients that run in the Node worker (`worker.ts`) behind `BenchClient`. */
export type NodeClientName = Exclude<ClientName, "go">;

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
  /**
   * One watcher on a prefix; `onEvent` gets each event's value as it arrives (the worker reads the
   * writer's send time from it). One call per event for both clients, so neither pays more for it.
   * From `startRevision` when given (watch-catch-up), else from the next revision.
   */
  watchPrefix(prefix: string, onEvent: (value: Uint8Array) => void, startRevision?: number): Promise<Closer>;
  /** One watcher per key; resolves once etcd has confirmed every one. */
  watchKeys(keys: readonly string[]): Promise<Closer>;
  /**
   * Grants `count` leases, at most `grantConcurrency` at once, and keeps each alive (a keepalive
   * every ttl/3) from its grant on; resolves once every lease is granted and kept. `onKeepAlive`
   * runs on every answered keepalive.
   */
  keepLeases(
    count: number,
    ttlSeconds: number,
    grantConcurrency: number,
    onKeepAlive: () => void,
  ): Promise<KeptLeases>;
  close(): Promise<void>;
}

/** The leases of one {@link BenchClient.keepLeases}. */
export interface KeptLeases {
  /**
   * Resolves once every lease has had a keepalive answered; rejects when one was not kept. A
   * client may renew a lease it just granted later than another does (ours renews at a point
   * of the first third of the TTL), so this is not part of the creation time.
   */
  answered: Promise<void>;
  close: Closer;
}

/**
 * Client TLS for a workload against the mutual-TLS member: files (PEM) of the CA that signed the
 * member's certificate, and of the client certificate and its key. Each client reads them its
 * own way (ours and etcd3 from the contents, Go from the paths).
 */
export interface BenchTls {
  ca: string;
  cert: string;
  key: string;
}
