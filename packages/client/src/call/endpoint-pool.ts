import { isIP } from "node:net";
import type { ConnectionOptions } from "node:tls";
import { Code, ConnectError } from "@connectrpc/connect";
import { Http2Connection, type Http2ConnectionOptions, raceSignal } from "@etcd-connect/transport";
import type { ClientLogger, ClientObserver, ClientTlsOptions } from "../client-options.js";
import { type Endpoint, parseEndpoint } from "../endpoint.js";
import { ClientClosedError } from "../errors.js";
import { exponentialBackoff, sleep } from "./backoff.js";

/** Settings of the connections the pool opens. */
export interface EndpointPoolOptions {
  endpoints: Endpoint[];
  balancer: "round-robin" | "pinned";
  dialTimeoutMs: number;
  /** See {@link Http2ConnectionOptions.silenceProbeMs}. */
  silenceProbeMs: number;
  keepAliveTimeMs: number;
  keepAliveTimeoutMs: number;
  permitWithoutStream: boolean;
  tls: ClientTlsOptions | undefined;
  logger: ClientLogger | undefined;
  observer?: ClientObserver | undefined;
  /** Checks a member once before its first use, e.g. its version; a rejection fails the call. */
  verify?:
    | ((entry: PooledEndpoint, signal: AbortSignal | undefined, pool: EndpointPool) => Promise<void>)
    | undefined;
}

/**
 * What a long-lived stream (watch, lease keepalive) may ask about its member when answers are
 * late: a late answer is not evidence against a member, but the member's connection can get
 * some (a PING), and the stream can move only where another member is there to take it.
 */
export interface MemberHealth {
  /** Has the member's connection check itself with a PING; a dead one is then dropped. */
  probe(url: string): void;
  /** Whether another member could take the stream now (not ejected, answering its pings). */
  hasAlternative(url: string): boolean;
}

/** One member's connection and health. */
export interface PooledEndpoint {
  readonly endpoint: Endpoint;
  readonly connection: Http2Connection;
  /** Consecutive failures; 0 when healthy. */
  failures: number;
  /** Epoch ms before which the endpoint is not picked (ejected), 0 when healthy. */
  ejectedUntil: number;
  /** The member passed {@link EndpointPoolOptions.verify}, once per endpoint. */
  verified: Promise<void> | undefined;
  /** Set once `verified` resolved: calls may then skip the check without waiting. */
  verifiedOk: boolean;
}

const ejectBaseMs = 100;
const ejectCapMs = 5_000;

/**
 * The members a client talks to: one lazily opened HTTP/2 connection each (see
 * {@link Http2Connection}), with ejection and backoff on failure.
 */
export class EndpointPool implements MemberHealth {
  private entries: PooledEndpoint[] = [];
  private next = 0;
  private closed = false;
  private readonly options: EndpointPoolOptions;

  constructor(options: EndpointPoolOptions) {
    this.options = options;
    this.setEndpoints(options.endpoints);
  }

  /** The endpoint URLs in use. */
  get urls(): string[] {
    return this.entries.map((e) => e.endpoint.url);
  }

  /** The pooled endpoint for a URL, healthy or not; a call to one member goes there or fails. */
  pinned(url: string): PooledEndpoint {
    if (this.closed) throw new ClientClosedError();
    const entry = this.find(url);
    if (entry === undefined) {
      throw new ConnectError(
        `${url} is not one of the client's endpoints (${this.urls.join(", ")})`,
        Code.InvalidArgument,
      );
    }
    return entry;
  }

  /** The pooled endpoint for a URL in the list, or undefined. */
  find(url: string): PooledEndpoint | undefined {
    // URLs from the pool itself (attempt records, rpcAt) match as they are; others are normalised.
    const exact = this.entries.find((e) => e.endpoint.url === url);
    if (exact !== undefined) return exact;
    let normalised: string;
    try {
      normalised = parseEndpoint(url).url;
    } catch {
      return undefined;
    }
    return this.entries.find((e) => e.endpoint.url === normalised);
  }

  /** Replaces the endpoint list; connections to kept endpoints stay open. */
  setEndpoints(endpoints: Endpoint[]): void {
    const old = new Map(this.entries.map((e) => [e.endpoint.url, e]));
    this.entries = endpoints.map((endpoint) => old.get(endpoint.url) ?? this.open(endpoint));
    for (const [url, entry] of old) {
      if (!this.entries.some((e) => e.endpoint.url === url)) entry.connection.close();
    }
    this.next = 0;
    this.options.observer?.onEndpoints?.(this.urls);
  }

  private open(endpoint: Endpoint): PooledEndpoint {
    const nodeOptions: ConnectionOptions = {};
    const tls = this.options.tls;
    if (endpoint.tls && tls !== undefined) {
      if (tls.ca !== undefined) nodeOptions.ca = tls.ca;
      if (tls.cert !== undefined) nodeOptions.cert = tls.cert;
      if (tls.key !== undefined) nodeOptions.key = tls.key;
      if (tls.rejectUnauthorized !== undefined) nodeOptions.rejectUnauthorized = tls.rejectUnauthorized;
    }
    // Node warns on (and TLS forbids) SNI with an IP address: only name hosts get one.
    const servername = tls?.servername ?? (isIP(endpoint.host) === 0 ? endpoint.host : undefined);
    if (endpoint.tls && servername !== undefined) nodeOptions.servername = servername;
    // A Unix socket's connection is named by the host the server is known by (see Endpoint.host).
    const socketPath = endpoint.socketPath;
    const authority =
      socketPath === undefined
        ? endpoint.url
        : `${endpoint.tls ? "https" : "http"}://${isIP(endpoint.host) === 6 ? `[${endpoint.host}]` : endpoint.host}`;
    const connection = new Http2Connection(authority, {
      tls: endpoint.tls ? nodeOptions : undefined,
      socketPath,
      dialTimeoutMs: this.options.dialTimeoutMs,
      keepAliveTimeMs: this.options.keepAliveTimeMs,
      keepAliveTimeoutMs: this.options.keepAliveTimeoutMs,
      permitWithoutStream: this.options.permitWithoutStream,
      silenceProbeMs: this.options.silenceProbeMs,
      // etcd's gRPC-Go server: --grpc-keepalive-min-time (5 s by default), two strikes.
      serverPingPolicy: { minTimeMs: 5_000, maxStrikes: 2 },
      serverKind: "an etcd gRPC server",
      onDead: (error) => this.reportFailure(entry, error),
      onResponsive: (responsive) => this.responsiveChanged(entry, responsive),
    });
    const entry: PooledEndpoint = {
      endpoint,
      connection,
      failures: 0,
      ejectedUntil: 0,
      verified: undefined,
      verifiedOk: false,
    };
    return entry;
  }

  /**
   * The endpoint for the next attempt (see {@link pick}). When all are ejected, waits for the
   * first to come back, bounded by the signal and `waitMs`.
   */
  async acquire(signal: AbortSignal | undefined, waitMs: number, avoid?: string): Promise<PooledEndpoint> {
    const giveUpAt = Date.now() + waitMs;
    for (;;) {
      if (this.closed) throw new ClientClosedError();
      const now = Date.now();
      const picked = this.pick(now, false, avoid);
      if (picked !== undefined) return picked;
      const soonest = Math.min(...this.entries.map((e) => e.ejectedUntil));
      if (soonest > giveUpAt || this.entries.length === 0) {
        throw new ConnectError(
          `no etcd endpoint available (${this.urls.join(", ")} all failing)`,
          Code.Unavailable,
        );
      }
      await sleep(Math.max(0, soonest - Date.now()), signal);
    }
  }

  /**
   * The next endpoint when it can take a call right now (connected, answering, verified), with
   * no promise in between: the common case of a call. Undefined sends the caller to `acquire`.
   */
  pickReady(): PooledEndpoint | undefined {
    if (this.closed) return undefined;
    return this.pick(Date.now(), true);
  }

  /**
   * The member for a call, among those not ejected: first one that can take it now (connected,
   * answering its pings, verified), in turn; else one to dial; else one that stopped answering
   * pings, since a slow member beats none (the last one is never ruled out for slowness). As
   * gRPC's balancers do, a call goes to a member still dialling only when no member is ready:
   * members that are not ready are dialled in the background meanwhile, so a paused member
   * costs a dial timeout of nobody's call. Round-robin moves on with every pick; pinned stays.
   */
  private pick(now: number, readyOnly: boolean, avoid?: string): PooledEndpoint | undefined {
    const n = this.entries.length;
    const round = this.options.balancer === "round-robin";
    let toDial = -1;
    let unanswering = -1;
    let avoided = -1;
    for (let i = 0; i < n; i++) {
      const index = (this.next + i) % n;
      const entry = this.entries[index] as PooledEndpoint;
      if (entry.ejectedUntil > now) continue;
      if (entry.endpoint.url === avoid) {
        avoided = index;
        continue;
      }
      const connection = entry.connection;
      if (!connection.responsive) {
        if (unanswering < 0) unanswering = index;
        continue;
      }
      if (connection.ready && (this.options.verify === undefined || entry.verifiedOk)) {
        this.next = round ? (index + 1) % n : index;
        return entry;
      }
      if (toDial < 0) toDial = index;
      // Joins the rotation once connected; pinned clients keep one connection.
      if (round && connection.state === "idle") this.warm(entry);
    }
    if (readyOnly) return undefined;
    const index = toDial >= 0 ? toDial : unanswering >= 0 ? unanswering : avoided;
    if (index < 0) return undefined;
    this.next = round ? (index + 1) % n : index;
    return this.entries[index];
  }

  // Dials (and checks) a member in the background. Any failure ejects it, so a member that
  // cannot be dialled is tried again after a growing pause, not on every pick.
  private warm(entry: PooledEndpoint): void {
    this.connect(entry, undefined).catch((error: unknown) => this.reportFailure(entry, error));
  }

  // A member that stopped answering pings loses its reads to members that still answer; its
  // writes keep waiting (they may have been applied). Without another member, everything waits.
  private responsiveChanged(entry: PooledEndpoint, responsive: boolean): void {
    this.options.observer?.onEndpointHealth?.(entry.endpoint.url, responsive && entry.failures === 0);
    this.options.logger?.warn?.(
      responsive ? "etcd endpoint answers again" : "etcd endpoint stopped answering pings",
      { endpoint: entry.endpoint.url, probeTimeoutMs: Math.round(entry.connection.probeTimeoutMs) },
    );
    if (responsive) return;
    if (this.hasAlternative(entry.endpoint.url)) {
      entry.connection.failRetrySafe(
        `${entry.endpoint.url} did not answer a PING within ${Math.round(entry.connection.probeTimeoutMs)} ms`,
      );
    }
  }

  /** Asks a member's connection to prove it is alive with a PING (see {@link Http2Connection.probe}). */
  probe(url: string): void {
    this.find(url)?.connection.probe();
  }

  hasAlternative(url: string): boolean {
    const now = Date.now();
    return this.entries.some(
      (e) => e.endpoint.url !== url && e.ejectedUntil <= now && e.connection.responsive,
    );
  }

  /**
   * Opens the connection if needed, within `dialTimeoutMs`, or until the signal aborts.
   * @throws ConnectError; nothing was sent.
   */
  async connect(entry: PooledEndpoint, signal: AbortSignal | undefined): Promise<void> {
    await this.dial(entry, signal);
    const verify = this.options.verify;
    if (verify === undefined) return;
    entry.verified ??= verify(entry, signal, this).then(
      () => {
        entry.verifiedOk = true;
      },
      (error: unknown) => {
        entry.verified = undefined;
        throw error;
      },
    );
    await entry.verified;
  }

  /** Opens the connection if needed, without the member check: for the check's own call. */
  async dial(entry: PooledEndpoint, signal: AbortSignal | undefined): Promise<void> {
    if (entry.connection.ready) return;
    if (signal === undefined) {
      await entry.connection.connect();
      return;
    }
    await raceSignal(entry.connection.connect(), signal);
  }

  /** Ejects an endpoint for a growing, jittered time after a connection-level failure. */
  reportFailure(entry: PooledEndpoint, error: unknown): void {
    entry.failures++;
    if (entry.failures === 1) this.options.observer?.onEndpointHealth?.(entry.endpoint.url, false);
    entry.ejectedUntil = Date.now() + exponentialBackoff(entry.failures - 1, ejectBaseMs, ejectCapMs);
    if (this.options.balancer === "pinned")
      this.next = (this.entries.indexOf(entry) + 1) % this.entries.length;
    this.options.logger?.warn?.("etcd endpoint ejected", {
      endpoint: entry.endpoint.url,
      failures: entry.failures,
      error: error instanceof Error ? error.message : String(error),
    });
  }

  /** Marks an endpoint healthy after a successful call. */
  reportSuccess(entry: PooledEndpoint): void {
    if (entry.failures === 0) return;
    entry.failures = 0;
    entry.ejectedUntil = 0;
    this.options.observer?.onEndpointHealth?.(entry.endpoint.url, true);
  }

  /** Closes every connection; later calls fail with reason `closed`. */
  close(): void {
    this.closed = true;
    for (const entry of this.entries) entry.connection.close();
  }
}
