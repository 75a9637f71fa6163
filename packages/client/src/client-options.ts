import { isIP } from "node:net";
import { Code, type Interceptor, type Transport } from "@connectrpc/connect";
import { maxTimeoutMs } from "@etcd-connect/transport";
import { type Endpoint, parseEndpoint } from "./endpoint.js";
import type { EtcdErrorReason } from "./errors.js";
import { EtcdError, invalidArgument } from "./errors.js";

// Where endpoints are parsed; re-exported for the modules that read options.
export { type Endpoint, parseEndpoint };

/** TLS settings for `https://` and `unixs://` endpoints; passed to Node's TLS. */
export interface ClientTlsOptions {
  /** CA certificates (PEM) that sign the members' certificates. Default: Node's root store. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Client certificate (PEM) for etcd's `--client-cert-auth`. */
  cert?: string | Buffer;
  /** Private key (PEM) of the client certificate. */
  key?: string | Buffer;
  /**
   * Server name to verify; must be a DNS name, never an IP address. Default: the endpoint's host
   * name when it is not an IP; for `unixs://`, the host of `unixs://host:port`, else `localhost`.
   */
  servername?: string;
  /** Verify the members' certificates. Default: true. */
  rejectUnauthorized?: boolean;
}

/** A logger; etcd-connect logs nothing unless given one. Secrets are never passed to it. */
export interface ClientLogger {
  debug?(message: string, fields?: Record<string, unknown>): void;
  info?(message: string, fields?: Record<string, unknown>): void;
  warn?(message: string, fields?: Record<string, unknown>): void;
}

/**
 * Receives the client's internal events, for metrics (`@etcd-connect/prometheus` provides
 * one). Methods are called synchronously and must not throw; every one is optional.
 */
export interface ClientObserver {
  /** A failed attempt is retried; `reason` is an {@link EtcdErrorReason}. */
  onRetry?(service: string, method: string, reason: string): void;
  /** The endpoint list changed (set at construction, `setEndpoints`, `sync`). */
  onEndpoints?(endpoints: readonly string[]): void;
  /** An endpoint was ejected (false) or answered again after being ejected (true). */
  onEndpointHealth?(endpoint: string, healthy: boolean): void;
  /** Open watch streams (0 or 1 per client). */
  onWatchStreams?(count: number): void;
  /** Open watches. */
  onWatches?(count: number): void;
  /** Leases kept alive. */
  onKeptLeases?(count: number): void;
  /** Time from sending a lease keepalive to its answer. */
  onKeepAliveRoundTrip?(seconds: number): void;
  /** A token was refused and a new one fetched. */
  onReauthentication?(): void;
  /** The client closed. */
  onClose?(): void;
}

/** Options of {@link createClient}. `endpoints` (or a `transport`) is required. */
export interface ClientOptions {
  /**
   * Member client URLs, at least one: `http://host:port` or `https://host:port` (a bare
   * `host:port` means http), or a Unix socket: `unix:///absolute/path`, `unixs:///absolute/path`
   * (TLS), or etcd's own `unix://host:port` (the socket file `host:port` in the working
   * directory). See {@link parseEndpoint}. Required unless `transport` is given.
   */
  endpoints?: string[];
  /**
   * Send every call over this Connect `Transport` instead of connections of our own, e.g.
   * connect-node's `createGrpcTransport`, or `createRouterTransport` to test code without etcd.
   * User interceptors, retries, auth, `requestTimeoutMs` and `requireLeader` still apply; the
   * built-in transport's endpoint balancing, failover, silence probes and size checks do not
   * (the README compares them). Excludes `endpoints` and every option that configures
   * connections (`tls`, `dialTimeoutMs`, `keepAliveTimeMs`, `keepAliveTimeoutMs`,
   * `permitWithoutStream`, `silenceProbeMs`, `maxCallSendMsgSize`, `maxCallRecvMsgSize`,
   * `balancer`, `autoSyncIntervalMs`, `rejectOldCluster`): set those on the transport. The client
   * never closes it. Default: none (the built-in transport over `endpoints`).
   */
  transport?: Transport;
  /**
   * Closes the client when aborted, as `close()` does (Go's `Config.Context`): calls in flight
   * and later ones fail with reason `closed`, watches and keepalives end. A signal already
   * aborted makes `createClient` throw (reason `canceled`), as Go's `clientv3.New` fails with a
   * cancelled context. Default: none.
   */
  signal?: AbortSignal;
  /** Bound on establishing a connection to one endpoint, in ms. Default: 5000. */
  dialTimeoutMs?: number;
  /**
   * Default deadline of unary calls, in ms. Default: none. Never applied to watch or
   * keepalive streams. A per-call `timeoutMs` overrides it.
   */
  requestTimeoutMs?: number;
  /** Interval of HTTP/2 pings, in ms. Default: 10000; at least 5000, etcd closes connections that ping more often. */
  keepAliveTimeMs?: number;
  /**
   * How long to wait for any ping's answer (keepalive or silence probe) before the connection
   * counts as dead and is dropped, failing its calls, in ms. Default: 5000.
   */
  keepAliveTimeoutMs?: number;
  /** Ping connections that carry no call. Default: false. */
  permitWithoutStream?: boolean;
  /**
   * Silence probe, in ms. When a call has heard nothing from its member for this long, or a
   * member that just answered calls goes quiet for this long, its connection pings (as often as
   * etcd's ping policy allows: at once when etcd has written since the last ping, which a busy
   * connection always has). A ping answered later than the member's own round trips allow
   * (smoothed RTT plus four deviations, never under this value) makes the member unresponsive:
   * new calls go to other members, and reads waiting on it are sent again elsewhere; writes keep
   * waiting, since they may have been applied. The connection is dropped only after
   * `keepAliveTimeoutMs` without an answer. The last member standing is never ruled out for
   * slowness. So a paused or black-holed member costs at most the calls already sent to it.
   * Default: 500.
   */
  silenceProbeMs?: number;
  /** Largest request message, in bytes, checked before sending. Default: 2 MiB (etcd's default `--max-request-bytes` is 1.5 MiB). */
  maxCallSendMsgSize?: number;
  /** Largest response message, in bytes. Default: 2^31-1. Must not be below `maxCallSendMsgSize`. */
  maxCallRecvMsgSize?: number;
  /** User name for etcd authentication; requires `password`. */
  username?: string;
  /** Password for etcd authentication; never logged nor put in errors. */
  password?: string;
  /** A ready auth token (instead of username/password); never logged nor put in errors. */
  token?: string;
  /** TLS settings for `https://` and `unixs://` endpoints. Never falls back to plaintext. */
  tls?: ClientTlsOptions;
  /** User interceptors (metrics, tracing); outermost first, they see one call however often it is retried. */
  interceptors?: Interceptor[];
  /** Refuse members older than etcd 3.4. Default: false. */
  rejectOldCluster?: boolean;
  /** Logger for connection events. Default: none (silent). */
  logger?: ClientLogger;
  /** Receives retries, endpoint health, watch and lease counts, for metrics. Default: none. */
  observer?: ClientObserver;
  /** How calls are spread over endpoints. Default: "round-robin". */
  balancer?: "round-robin" | "pinned";
  /**
   * A watch stream silent for this long is asked for progress. An answer later than the
   * stream's round trips allow (never less than this, at most four times it) has the member's
   * connection checked with a ping, and the stream moved to another member (every watch
   * resuming) when there is one; being slow does not get a member ejected. Default: 2000.
   */
  watchSilenceMs?: number;
  /**
   * Events one watcher may hold for a reader that falls behind. Past it, the watch is paused
   * on the server and resumed from the next revision once the reader caught up: memory stays
   * bounded, no event is lost (unless compacted meanwhile), other watches are not held up. A
   * batch a waiting reader takes at once is not held, however many events it carries.
   * Default: 10000.
   */
  watchMaxBufferedEvents?: number;
  /**
   * The shortest wait for a lease keepalive's answer, in ms. The wait follows the round trips
   * keepalives have taken (smoothed RTT plus four deviations), up to a third of the shortest
   * kept TTL. A later answer has the member's connection checked
   * with a ping, and the keepalive stream re-created on another member (every kept lease renewed
   * there) when there is one; being slow does not get a member ejected. Default: 1000.
   */
  leaseKeepAliveTimeoutMs?: number;
  /**
   * Ask members to refuse requests when they have no leader, so calls move on. A call's own
   * `requireLeader` overrides it. Default: true.
   */
  requireLeader?: boolean;
  /** Refresh `endpoints` from the member list this often, in ms; 0 is off. Default: 0. */
  autoSyncIntervalMs?: number;
  /** Retry settings, or false for none. Default: {@link RetryOptions} defaults. */
  retry?: RetryOptions | false;
}

/** {@link ClientOptions} with every default filled in. *
 * @internal Not part of the public API.
 */
export interface ResolvedClientOptions {
  /** Empty with a custom `transport`. */
  endpoints: Endpoint[];
  transport: Transport | undefined;
  signal: AbortSignal | undefined;
  dialTimeoutMs: number;
  requestTimeoutMs: number | undefined;
  keepAliveTimeMs: number;
  keepAliveTimeoutMs: number;
  permitWithoutStream: boolean;
  silenceProbeMs: number;
  maxCallSendMsgSize: number;
  maxCallRecvMsgSize: number;
  username: string | undefined;
  password: string | undefined;
  token: string | undefined;
  tls: ClientTlsOptions | undefined;
  interceptors: Interceptor[];
  rejectOldCluster: boolean;
  logger: ClientLogger | undefined;
  observer: ClientObserver | undefined;
  balancer: "round-robin" | "pinned";
  watchSilenceMs: number;
  watchMaxBufferedEvents: number;
  leaseKeepAliveTimeoutMs: number;
  requireLeader: boolean;
  autoSyncIntervalMs: number;
  retry: RetryOptions | false;
}

// The transport's bound on deadlines, re-exported where the options are validated.
export { maxTimeoutMs };

function positiveInt(name: string, value: number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min) {
    throw invalidArgument(`${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

function validateRetry(retry: RetryOptions | false | undefined): RetryOptions | false {
  if (retry === false || retry === undefined) return retry ?? {};
  const out: RetryOptions = {};
  if (retry.maxRetries !== undefined)
    out.maxRetries = positiveInt("retry.maxRetries", retry.maxRetries, 0, 0);
  if (retry.backoffMs !== undefined) out.backoffMs = positiveInt("retry.backoffMs", retry.backoffMs, 0, 0);
  if (retry.backoffJitter !== undefined) {
    const jitter = retry.backoffJitter;
    if (typeof jitter !== "number" || !(jitter >= 0 && jitter <= 1)) {
      throw invalidArgument(`retry.backoffJitter must be between 0 and 1, got ${String(jitter)}`);
    }
    out.backoffJitter = jitter;
  }
  return out;
}

// Options that configure the built-in transport's connections: a transport the user brings has
// its own, so giving them with one is a mistake worth saying.
const connectionOptionNames = [
  "tls",
  "dialTimeoutMs",
  "keepAliveTimeMs",
  "keepAliveTimeoutMs",
  "permitWithoutStream",
  "silenceProbeMs",
  "maxCallSendMsgSize",
  "maxCallRecvMsgSize",
  "balancer",
  "autoSyncIntervalMs",
  "rejectOldCluster",
] as const satisfies ReadonlyArray<keyof ClientOptions>;

// The members to dial, or the user's transport: exactly one of them.
function endpointsOrTransport(options: ClientOptions): {
  endpoints: Endpoint[];
  transport: Transport | undefined;
} {
  const transport: unknown = options.transport;
  if (transport !== undefined) {
    const t = transport as Partial<Transport> | null;
    if (
      t === null ||
      typeof t !== "object" ||
      typeof t.unary !== "function" ||
      typeof t.stream !== "function"
    ) {
      throw invalidArgument(
        "transport must be a Connect Transport (an object with unary and stream methods)",
      );
    }
    if (options.endpoints !== undefined) {
      throw invalidArgument("give endpoints or a transport, not both: the transport decides where calls go");
    }
    const given = connectionOptionNames.filter((name) => options[name] !== undefined);
    if (given.length > 0) {
      throw invalidArgument(
        `${given.join(", ")} configure${given.length === 1 ? "s" : ""} the built-in transport; with a custom transport, set ${given.length === 1 ? "it" : "them"} on that transport`,
      );
    }
    return { endpoints: [], transport: transport as Transport };
  }
  if (!Array.isArray(options.endpoints) || options.endpoints.length === 0) {
    throw invalidArgument("endpoints must list at least one etcd client URL, e.g. http://127.0.0.1:2379");
  }
  const endpoints = [
    ...new Map(options.endpoints.map((e) => parseEndpoint(e)).map((e) => [e.url, e])).values(),
  ];
  if (endpoints.some((e) => e.tls) && endpoints.some((e) => !e.tls)) {
    throw invalidArgument(
      "endpoints mix http and https; use TLS for every member or for none (unix:// is plaintext, unixs:// is TLS)",
    );
  }
  return { endpoints, transport: undefined };
}

function validateSignal(signal: AbortSignal | undefined): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  const s = signal as Partial<AbortSignal> | null;
  if (
    s === null ||
    typeof s !== "object" ||
    typeof s.aborted !== "boolean" ||
    typeof s.addEventListener !== "function"
  ) {
    throw invalidArgument("signal must be an AbortSignal");
  }
  if (signal.aborted) {
    // As Go's clientv3.New fails with a context that is already cancelled.
    throw new EtcdError(
      "createClient: signal is already aborted, so the client would be closed before its first call",
      Code.Canceled,
      "canceled",
      { cause: signal.reason },
    );
  }
  return signal;
}

/**
 * Fills defaults and rejects bad values with a clear message.
 * @throws EtcdError with reason `invalid_argument`.
 *
 * @internal Not part of the public API.
 */
export function validateClientOptions(options: ClientOptions): ResolvedClientOptions {
  if (options === null || typeof options !== "object") {
    throw invalidArgument("createClient needs options with endpoints");
  }
  const { endpoints, transport } = endpointsOrTransport(options);
  const signal = validateSignal(options.signal);
  const maxCallSendMsgSize = positiveInt("maxCallSendMsgSize", options.maxCallSendMsgSize, 2 * 1024 * 1024);
  const maxCallRecvMsgSize = positiveInt("maxCallRecvMsgSize", options.maxCallRecvMsgSize, 2 ** 31 - 1);
  if (maxCallRecvMsgSize < maxCallSendMsgSize) {
    throw invalidArgument(
      `maxCallRecvMsgSize (${maxCallRecvMsgSize}) must not be below maxCallSendMsgSize (${maxCallSendMsgSize})`,
    );
  }
  const keepAliveTimeMs = positiveInt("keepAliveTimeMs", options.keepAliveTimeMs, 10_000, 5_000);
  if (options.username !== undefined && options.password === undefined) {
    throw invalidArgument("username needs a password");
  }
  if (options.password !== undefined && options.username === undefined) {
    throw invalidArgument("password needs a username");
  }
  if (options.token !== undefined && options.username !== undefined) {
    throw invalidArgument("give either token or username/password, not both");
  }
  const servername = options.tls?.servername;
  if (servername !== undefined && isIP(servername) !== 0) {
    throw invalidArgument("tls.servername must be a DNS name, not an IP address");
  }
  if (options.tls !== undefined && !endpoints.some((e) => e.tls)) {
    throw invalidArgument("tls options given but no endpoint is https:// or unixs://");
  }
  const balancer = options.balancer ?? "round-robin";
  if (balancer !== "round-robin" && balancer !== "pinned") {
    throw invalidArgument(`balancer must be "round-robin" or "pinned", got ${JSON.stringify(balancer)}`);
  }
  const requestTimeoutMs =
    options.requestTimeoutMs === undefined
      ? undefined
      : Math.min(positiveInt("requestTimeoutMs", options.requestTimeoutMs, 0), maxTimeoutMs);
  return {
    endpoints,
    transport,
    signal,
    dialTimeoutMs: positiveInt("dialTimeoutMs", options.dialTimeoutMs, 5_000),
    requestTimeoutMs,
    keepAliveTimeMs,
    keepAliveTimeoutMs: positiveInt("keepAliveTimeoutMs", options.keepAliveTimeoutMs, 5_000),
    permitWithoutStream: options.permitWithoutStream ?? false,
    silenceProbeMs: positiveInt("silenceProbeMs", options.silenceProbeMs, 500, 50),
    maxCallSendMsgSize,
    maxCallRecvMsgSize,
    username: options.username,
    password: options.password,
    token: options.token,
    tls: options.tls,
    interceptors: options.interceptors ?? [],
    rejectOldCluster: options.rejectOldCluster ?? false,
    logger: options.logger,
    observer: options.observer,
    balancer,
    watchSilenceMs: positiveInt("watchSilenceMs", options.watchSilenceMs, 2_000, 100),
    watchMaxBufferedEvents: positiveInt("watchMaxBufferedEvents", options.watchMaxBufferedEvents, 10_000),
    leaseKeepAliveTimeoutMs: positiveInt(
      "leaseKeepAliveTimeoutMs",
      options.leaseKeepAliveTimeoutMs,
      1_000,
      100,
    ),
    requireLeader: options.requireLeader ?? true,
    autoSyncIntervalMs: positiveInt("autoSyncIntervalMs", options.autoSyncIntervalMs, 0, 0),
    retry: validateRetry(options.retry),
  };
}

/** Retry settings of the client; pass `retry: false` to {@link createClient} to turn retries off. */
export interface RetryOptions {
  /** Retries after the first attempt, at most; the call's deadline bounds them too. Default: 100. */
  maxRetries?: number;
  /** Pause after each round of attempts (one attempt per quorum member), in ms. Default: 25. */
  backoffMs?: number;
  /** Random share added to or taken from each pause. Default: 0.1. */
  backoffJitter?: number;
}
