import { isIP } from "node:net";
import type { ConnectionOptions } from "node:tls";
import { Code, ConnectError } from "@connectrpc/connect";
import { Http2Connection, type Http2ConnectionOptions, raceSignal } from "@etcd-connect/transport";
import type { ClientLogger, ClientObserver, ClientTlsOptions, Endpoint } from "../client-options.js";
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
export class EndpointPool {
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
    const origin = new URL(url).origin;
    return this.entries.find((e) => e.endpoint.url === origin);
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
    const connection = new Http2Connection(endpoint.url, {
      tls: endpoint.tls ? nodeOptions : undefined,
      dialTimeoutMs: this.options.dialTimeoutMs,
      keepAliveTimeMs: this.options.keepAliveTimeMs,
      keepAliveTimeoutMs: this.options.keepAliveTimeoutMs,
      permitWithoutStream: this.options.permitWithoutStream,
      silenceProbeMs: this.options.silenceProbeMs,
      // etcd answers pings spaced less than 5 s apart (--grpc-keepalive-min-time) with GOAWAY
      // too_many_pings once it counts three; probes keep a margin over that.
      minPingIntervalMs: 6_000,
      serverKind: "an etcd gRPC server",
      onDead: (error) => this.reportFailure(entry, error),
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
   * The endpoint for the next attempt: round-robin over healthy endpoints, or the pinned one
   * while it works. When all are ejected, waits for the first to come back, bounded by the
   * signal and `waitMs`.
   */
  async acquire(signal: AbortSignal | undefined, waitMs: number): Promise<PooledEndpoint> {
    const giveUpAt = Date.now() + waitMs;
    for (;;) {
      if (this.closed) throw new ClientClosedError();
      const now = Date.now();
      const picked = this.pickHealthy(now);
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
   * The next endpoint when it can take a call right now (healthy, connected, verified), with
   * no promise in between: the common case of a call. Undefined sends the caller to `acquire`.
   */
  pickReady(): PooledEndpoint | undefined {
    if (this.closed) return undefined;
    const before = this.next;
    const entry = this.pickHealthy(Date.now());
    if (entry?.connection.ready && (this.options.verify === undefined || entry.verifiedOk)) return entry;
    // Not ready: leave the turn to `acquire`, so round-robin skips nobody.
    this.next = before;
    return undefined;
  }

  private pickHealthy(now: number): PooledEndpoint | undefined {
    const n = this.entries.length;
    for (let i = 0; i < n; i++) {
      const entry = this.entries[(this.next + i) % n] as PooledEndpoint;
      if (entry.ejectedUntil <= now) {
        // Pinned stays on the entry until it fails; round-robin moves on every pick.
        this.next = this.options.balancer === "pinned" ? (this.next + i) % n : (this.next + i + 1) % n;
        return entry;
      }
    }
    return undefined;
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
