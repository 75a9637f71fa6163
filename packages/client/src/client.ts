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
  Watch,
} from "@etcd-connect/api/etcdserverpb";
import { type Auth, createAuth } from "./admin/auth.js";
import { type Cluster, createCluster } from "./admin/cluster.js";
import { createMaintenance, type Maintenance } from "./admin/maintenance.js";
import type { Bytes } from "./bytes.js";
import { createAuthInterceptor } from "./call/auth-interceptor.js";
import { createBalancedTransport } from "./call/balanced-transport.js";
import { EndpointPool } from "./call/endpoint-pool.js";
import { rejectOldMember } from "./call/member-version.js";
import { createRetryInterceptor } from "./call/retry-interceptor.js";
import type { CallOptions } from "./call-options.js";
import { type ClientOptions, parseEndpoint, validateClientOptions } from "./client-options.js";
import { invalidArgument, toEtcdError } from "./errors.js";
import type { EtcdApi } from "./etcd-api.js";
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
  /** The endpoint URLs in use. */
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
  /**
   * The generated Connect clients bound to one member (one of `endpoints`), with the client's
   * interceptors: for per-member calls such as Status, Hash or Defragment.
   */
  rpcAt(endpoint: string): RpcClients;
  /** Closes every connection and stream; later calls fail with reason `closed`. */
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
  const pool = new EndpointPool({
    ...resolved,
    verify: resolved.rejectOldCluster ? rejectOldMember : undefined,
  });
  const waitForEndpointMs = resolved.dialTimeoutMs;
  const retry =
    resolved.retry === false
      ? undefined
      : createRetryInterceptor({
          ...resolved.retry,
          endpointCount: () => pool.urls.length,
          onRetry: resolved.observer?.onRetry?.bind(resolved.observer),
          waitForEndpointMs,
        });
  const transportOptions = {
    pool,
    writeMaxBytes: resolved.maxCallSendMsgSize,
    readMaxBytes: resolved.maxCallRecvMsgSize,
    requestTimeoutMs: resolved.requestTimeoutMs,
    requireLeader: resolved.requireLeader,
    waitForEndpointMs,
  };
  const { username, password } = resolved;
  // Authenticate goes through retry but not through auth itself.
  const authless = createBalancedTransport({ ...transportOptions, interceptors: retry ? [retry] : [] });
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
    kv: createConnectClient(KVService, transport),
    watch: createConnectClient(Watch, transport),
    lease: createConnectClient(LeaseService, transport),
    cluster: createConnectClient(ClusterService, transport),
    maintenance: createConnectClient(MaintenanceService, transport),
    auth: createConnectClient(AuthService, transport),
  });
  const rpc = rpcOn(createBalancedTransport({ ...transportOptions, interceptors }));
  const pinnedRpc = new Map<string, RpcClients>();
  const kv = createKV(rpc.kv);
  const keepAlives = new LeaseKeepAliveEngine(rpc.lease, {
    responseTimeoutMs: resolved.leaseKeepAliveTimeoutMs,
    members: pool,
    reauthenticate: auth?.invalidate,
    logger: resolved.logger,
    observer: resolved.observer,
  });
  const watches = new WatchEngine(rpc.watch, {
    silenceMs: resolved.watchSilenceMs,
    members: pool,
    maxBufferedEvents: resolved.watchMaxBufferedEvents,
    maxFragmentBytes: resolved.maxCallRecvMsgSize,
    reauthenticate: auth?.invalidate,
    observer: resolved.observer,
    logger: resolved.logger,
  });
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
      endpoints: () => pool.urls,
    }),
    auth: createAuth(rpc.auth),
    get endpoints() {
      return pool.urls;
    },
    setEndpoints(endpoints) {
      if (endpoints.length === 0) throw invalidArgument("setEndpoints needs at least one endpoint");
      pool.setEndpoints(endpoints.map((e) => parseEndpoint(e)));
    },
    async sync(opts) {
      let res: Awaited<ReturnType<typeof rpc.cluster.memberList>>;
      try {
        res = await rpc.cluster.memberList({}, opts ?? {});
      } catch (error) {
        throw toEtcdError(error);
      }
      // Unstarted members have no client URLs yet; learners refuse most requests.
      const urls = res.members.filter((m) => !m.isLearner).flatMap((m) => m.clientURLs);
      if (urls.length > 0) pool.setEndpoints(urls.map((url) => parseEndpoint(url)));
      return pool.urls;
    },
    rpcAt(endpoint) {
      const url = parseEndpoint(endpoint).url;
      let clients = pinnedRpc.get(url);
      if (clients === undefined) {
        clients = rpcOn(createBalancedTransport({ ...transportOptions, interceptors, pin: url }));
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
    close() {
      clearInterval(autoSync);
      watches.close();
      keepAlives.close();
      resolved.observer?.onClose?.();
      closed ??= Promise.resolve().then(() => pool.close());
      return closed;
    },
    [Symbol.asyncDispose]() {
      return client.close();
    },
  };
  if (resolved.autoSyncIntervalMs > 0) {
    autoSync = setInterval(() => {
      client.sync().catch((error: unknown) => {
        resolved.logger?.warn?.("etcd endpoint sync failed", { error: String(error) });
      });
    }, resolved.autoSyncIntervalMs).unref();
  }
  return client;
}
