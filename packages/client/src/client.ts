import { create } from "@bufbuild/protobuf";
import { createClient as createConnectClient, type Transport } from "@connectrpc/connect";
import {
  AuthenticateRequestSchema,
  Auth as AuthService,
  Cluster as ClusterService,
  KV as KVService,
  Lease as LeaseService,
  Maintenance as MaintenanceService,
  type RangeResponse,
  type RequestOp,
  Watch,
} from "@etcd-connect/api/etcdserverpb";
import type { KeyValue } from "@etcd-connect/api/mvccpb";
import { Election } from "@etcd-connect/api/v3electionpb";
import { Lock } from "@etcd-connect/api/v3lockpb";
import { onAbort } from "@etcd-connect/transport";
import { type Auth, createAuth } from "./admin/auth.js";
import { type Cluster, createCluster } from "./admin/cluster.js";
import { createElectionService, type ElectionService } from "./admin/election-service.js";
import { createLockService, type LockService } from "./admin/lock-service.js";
import { createMaintenance, type Maintenance } from "./admin/maintenance.js";
import type { Bytes } from "./bytes.js";
import { createAuthInterceptor } from "./call/auth-interceptor.js";
import { createCallRouting } from "./call/call-routing.js";
import { createRetryInterceptor } from "./call/retry-interceptor.js";
import { createRpcClient } from "./call/rpc-client.js";
import { type CallOptions, callEtcd } from "./call-options.js";
import { type ClientOptions, parseEndpoint, validateClientOptions } from "./client-options.js";
import { invalidArgument } from "./errors.js";
import type { EtcdApi } from "./etcd-api.js";
import { createDo, type OpResponseFor } from "./kv/do-op.js";
import { type FirstLastOptions, getFirst, getLast } from "./kv/first-last.js";
import { type GetAllValuesOptions, getAllJson, getAllText } from "./kv/get-all-values.js";
import { createKV, exists, type GetAllOptions, getAll, getJson, getText, type KV } from "./kv/kv.js";
import type { GetOptions } from "./kv/op.js";
import { createLease, type Lease } from "./lease/lease.js";
import { LeaseKeepAliveEngine } from "./lease/lease-keeper.js";
import type { RpcClients } from "./rpc-clients.js";
import { WatchEngine } from "./watch/watch-engine.js";

/**
 * An etcd client: the {@link KV} API plus read helpers, the raw RPC clients and the
 * endpoint list. Close it with `close()` or `await using`.
 */
export interface Client extends EtcdApi, AsyncDisposable {
  /** Generated Connect clients for anything the facades don't cover. */
  readonly rpc: RpcClients;
  /** Leases: grant, revoke, time to live, and keepalive with a safe `lost` signal. */
  readonly lease: Lease;
  /** Membership: list, add, remove, update, promote. */
  readonly cluster: Cluster;
  /** Status, alarms, defragment, hashes, snapshots, leader moves. */
  readonly maintenance: Maintenance;
  /** Users, roles and permissions; enabling and disabling auth. */
  readonly auth: Auth;
  /** etcd's lock service: locks the member waits for on the caller's behalf (`lock`, `unlock`). */
  readonly lockService: LockService;
  /** etcd's election service: `campaign`, `proclaim`, `leader`, `observe`, `resign`. */
  readonly electionService: ElectionService;
  /** The endpoint URLs in use; empty with a custom `transport`. */
  readonly endpoints: string[];
  /** Replaces the endpoints; connections to endpoints that stay are kept. */
  setEndpoints(endpoints: string[]): void;
  /**
   * Replaces the endpoints with the client URLs of the cluster's started, non-learner members
   * (MemberList) and returns them. `autoSyncIntervalMs` runs it periodically.
   */
  sync(options?: CallOptions): Promise<string[]>;
  /** A key's value as UTF-8 text, or undefined when it does not exist. */
  getText(key: Bytes, options?: GetOptions & CallOptions): Promise<string | undefined>;
  /** A key's value parsed as JSON, or undefined when it does not exist. */
  getJson<T = unknown>(key: Bytes, options?: GetOptions & CallOptions): Promise<T | undefined>;
  /** Whether a key exists. */
  exists(key: Bytes, options?: CallOptions): Promise<boolean>;
  /** Every key under a prefix, page by page, all at one revision. */
  getAll(prefix: Bytes, options?: GetAllOptions): AsyncGenerator<RangeResponse>;
  /** Every key under a prefix with its value as text, in a Map, all at one revision. */
  getAllText(prefix: Bytes, options?: GetAllValuesOptions): Promise<Map<string, string>>;
  /** Every key under a prefix with its value parsed as JSON, in a Map, all at one revision. */
  getAllJson<T = unknown>(prefix: Bytes, options?: GetAllValuesOptions): Promise<Map<string, T>>;
  /** The first key under a prefix by key (default), creation or modification revision. */
  getFirst(prefix: Bytes, options?: FirstLastOptions): Promise<KeyValue | undefined>;
  /** The last key under a prefix by key (default), creation or modification revision. */
  getLast(prefix: Bytes, options?: FirstLastOptions): Promise<KeyValue | undefined>;
  /**
   * Runs one op built by `opGet`, `opPut`, `opDelete` or `opTxn` as its own request (Go's
   * `KV.Do`) and answers `{ op: "get" | "put" | "delete" | "txn", response }`; for an op from
   * a builder, the type names the one response it gets.
   *
   * @example
   * const { response } = await client.do(opGet("config/", { prefix: true }));
   * console.log(response.count);
   */
  do<O extends RequestOp>(op: O, options?: CallOptions): Promise<OpResponseFor<O>>;
  /**
   * The generated Connect clients bound to one member (one of `endpoints`), with the client's
   * interceptors: for per-member calls such as Status, Hash or Defragment.
   */
  rpcAt(endpoint: string): RpcClients;
  /**
   * Closes every connection and stream; calls in flight and later ones fail with reason
   * `closed`. Aborting the `signal` option does the same. A custom `transport` is left open.
   */
  close(): Promise<void>;
}

/**
 * Creates a client for an etcd cluster. Connections open lazily, on the first call.
 *
 * @example
 * const client = createClient({ endpoints: ["http://127.0.0.1:2379"] });
 * await client.put("greeting", "hello");
 * console.log(await client.getText("greeting"));
 * await client.close();
 */
export function createClient(options: ClientOptions): Client {
  const resolved = validateClientOptions(options);
  const routing = createCallRouting(resolved);
  const retry =
    resolved.retry === false
      ? undefined
      : createRetryInterceptor({
          ...resolved.retry,
          endpointCount: () => routing.urls().length,
          onRetry: resolved.observer?.onRetry?.bind(resolved.observer),
          waitForEndpointMs: resolved.dialTimeoutMs,
        });
  const { username, password } = resolved;
  // Authenticate goes through retry but not through auth itself.
  const authless = routing.transport(retry ? [retry] : []);
  const authClient = createConnectClient(AuthService, authless);
  const auth =
    username !== undefined && password !== undefined
      ? createAuthInterceptor({
          onReauthenticate: resolved.observer?.onReauthentication?.bind(resolved.observer),
          authenticate: async (signal) => {
            // Errors stay ConnectErrors here: interceptors above still see their code.
            const res = await authClient.authenticate(
              create(AuthenticateRequestSchema, { name: username, password }),
              signal === undefined ? {} : { signal },
            );
            return res.token;
          },
        })
      : resolved.token !== undefined
        ? createAuthInterceptor({ token: resolved.token })
        : undefined;
  // Order, outermost first: user interceptors see one call; retry repeats attempts; auth
  // puts a (fresh) token on every attempt.
  const interceptors = [...resolved.interceptors, ...(retry ? [retry] : []), ...(auth ? [auth] : [])];
  const rpcOn = (transport: Transport): RpcClients => ({
    kv: createRpcClient(KVService, transport),
    watch: createRpcClient(Watch, transport),
    lease: createRpcClient(LeaseService, transport),
    cluster: createRpcClient(ClusterService, transport),
    maintenance: createRpcClient(MaintenanceService, transport),
    auth: createRpcClient(AuthService, transport),
    lock: createRpcClient(Lock, transport),
    election: createRpcClient(Election, transport),
  });
  const rpc = rpcOn(routing.transport(interceptors));
  const pinnedRpc = new Map<string, RpcClients>();
  const kv = createKV(rpc.kv);
  const keepAlives = new LeaseKeepAliveEngine(rpc.lease, {
    responseTimeoutMs: resolved.leaseKeepAliveTimeoutMs,
    members: routing.members,
    reauthenticate: auth?.invalidate,
    logger: resolved.logger,
    observer: resolved.observer,
  });
  const watches = new WatchEngine(rpc.watch, {
    silenceMs: resolved.watchSilenceMs,
    members: routing.members,
    maxBufferedEvents: resolved.watchMaxBufferedEvents,
    maxFragmentBytes: resolved.maxCallRecvMsgSize,
    reauthenticate: auth?.invalidate,
    observer: resolved.observer,
    logger: resolved.logger,
  });
  const { signal } = resolved;
  let closed: Promise<void> | undefined;
  let autoSync: NodeJS.Timeout | undefined;
  const client: Client = {
    ...kv,
    rpc,
    lease: createLease(rpc.lease, keepAlives),
    cluster: createCluster(rpc.cluster),
    maintenance: createMaintenance({
      rpc,
      rpcAt: (endpoint) => client.rpcAt(endpoint),
      endpoints: () => routing.urls(),
    }),
    auth: createAuth(rpc.auth),
    lockService: createLockService(rpc.lock),
    electionService: createElectionService(rpc.election),
    get endpoints() {
      return routing.urls();
    },
    setEndpoints(endpoints) {
      if (!Array.isArray(endpoints) || endpoints.length === 0) {
        throw invalidArgument("setEndpoints needs at least one endpoint");
      }
      routing.setEndpoints(endpoints.map((e) => parseEndpoint(e)));
    },
    sync: (opts) =>
      callEtcd(opts, async (call) => {
        // A custom transport has no endpoint list to refresh: refused before any request.
        if (resolved.transport !== undefined) {
          throw invalidArgument(
            "sync needs endpoints; with a custom transport, the transport decides where calls go",
          );
        }
        const res = await rpc.cluster.memberList({}, call);
        // Unstarted members have no client URLs yet; learners refuse most requests.
        const urls = res.members.filter((m) => !m.isLearner).flatMap((m) => m.clientURLs);
        if (urls.length > 0) routing.setEndpoints(urls.map((url) => parseEndpoint(url)));
        return routing.urls();
      }),
    rpcAt(endpoint) {
      const url = parseEndpoint(endpoint).url;
      let clients = pinnedRpc.get(url);
      if (clients === undefined) {
        clients = rpcOn(routing.pinned(url, interceptors));
        pinnedRpc.set(url, clients);
      }
      return clients;
    },
    watch: (key, opts) => watches.watch(key, opts),
    requestProgress: (opts) => watches.requestProgress(opts?.timeoutMs),
    getText: (key, opts) => getText(kv, key, opts),
    getJson: (key, opts) => getJson(kv, key, opts),
    exists: (key, opts) => exists(kv, key, opts),
    getAll: (prefix, opts) => getAll(kv, prefix, opts),
    getAllText: (prefix, opts) => getAllText(kv, prefix, opts),
    getAllJson: (prefix, opts) => getAllJson(kv, prefix, opts),
    getFirst: (prefix, opts) => getFirst(kv, prefix, opts),
    getLast: (prefix, opts) => getLast(kv, prefix, opts),
    do: createDo(rpc.kv),
    close() {
      // Once: the observer hears of one close, however often close() is called (or the signal aborts).
      if (closed === undefined) {
        clearInterval(autoSync);
        detachSignal?.();
        watches.close();
        keepAlives.close();
        resolved.observer?.onClose?.();
        closed = Promise.resolve().then(() => routing.close());
      }
      return closed;
    },
    [Symbol.asyncDispose]() {
      return client.close();
    },
  };
  // Go's Config.Context: the client lives as long as the signal. The listener goes in close().
  function closeOnAbort(): void {
    client.close().catch((error: unknown) => {
      resolved.logger?.warn?.("etcd client close on abort failed", { error: String(error) });
    });
  }
  // One listener on an application's shutdown signal however many clients share it (onAbort).
  const detachSignal = signal === undefined ? undefined : onAbort(signal, closeOnAbort);
  if (resolved.autoSyncIntervalMs > 0) {
    autoSync = setInterval(() => {
      client.sync().catch((error: unknown) => {
        resolved.logger?.warn?.("etcd endpoint sync failed", { error: String(error) });
      });
    }, resolved.autoSyncIntervalMs).unref();
  }
  return client;
}
