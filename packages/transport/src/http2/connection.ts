import * as net from "node:net";
import * as tls from "node:tls";
import { Code, ConnectError } from "@connectrpc/connect";
import { http2Code } from "./error-codes.js";
import { PingBudget, type ServerPingPolicy } from "./ping-budget.js";
import { ReadSlab, readsIntoSlabs } from "./read-slab.js";
import { RttEstimator } from "./rtt-estimator.js";
import { type Http2Request, Http2Session } from "./session.js";
import type { Http2Stream, Http2StreamHandler } from "./stream.js";
import { TypedConnectError } from "./typed-connect-error.js";

/** Options of an {@link Http2Connection}. */
export interface Http2ConnectionOptions {
  /** TLS settings for an https endpoint (ca, cert, key, servername, rejectUnauthorized). */
  tls?: tls.ConnectionOptions | undefined;
  /**
   * Dial this Unix domain socket instead of the URL's host and port. The URL still names the
   * server: its host (with the port only when the URL gives one) is the `:authority`, and over
   * https the name the certificate is checked against unless `tls.servername` says otherwise.
   * Default: none (TCP to the URL's host and port).
   */
  socketPath?: string | undefined;
  /** Bound on TCP, TLS and the server's first SETTINGS frame, in ms. */
  dialTimeoutMs: number;
  /** Ping when nothing was read for this long, in ms. */
  keepAliveTimeMs: number;
  /**
   * A ping not answered within this many ms kills the connection: keepalive pings and silence
   * probes alike.
   */
  keepAliveTimeoutMs: number;
  /** Ping connections that carry no stream too. */
  permitWithoutStream: boolean;
  /**
   * Silence probe. When a unary call has heard nothing for this long, or a connection that just
   * served calls goes quiet for this long, the connection pings (as often as the server's
   * {@link serverPingPolicy} allows). An answer later than the round trips seen so far allow
   * (smoothed RTT plus four deviations, never under this value nor over `keepAliveTimeoutMs`)
   * makes the connection unresponsive ({@link onResponsive}); no answer within
   * `keepAliveTimeoutMs` kills it. So a paused or black-holed member is found within about twice
   * this, while a slow but live member keeps its calls.
   */
  silenceProbeMs: number;
  /** The server's ping enforcement; pings that would break it are not sent. Default: none. */
  serverPingPolicy?: ServerPingPolicy | undefined;
  /** What the peer should be, for the error of a dial that found something else. Default: "a gRPC server". */
  serverKind?: string;
  /** Called once per session that dies with an error (ping timeout, reset, protocol error). */
  onDead?: (error: ConnectError) => void;
  /**
   * A silence probe went unanswered past its timeout (false), or its answer came after all
   * (true). Calls on an unresponsive connection keep waiting; {@link Http2Connection.failRetrySafe}
   * ends the ones that may run elsewhere.
   */
  onResponsive?: (responsive: boolean) => void;
}

const idleCloseMs = 15 * 60_000;

// The longest keepalive interval that GOAWAY too_many_pings can double us to. gRPC-Go doubles
// without a bound that matters; setTimeout cannot wait longer than this and would fire at once
// (a ping loop) past it.
const maxPingIntervalMs = 2 ** 31 - 1;

// Connection errors that say the request cannot have reached a server and that a retry
// elsewhere, or later, may fix.
const transientDialCodes = new Set([
  // A Unix socket path that nobody listens on yet: a server that restarts removes its socket file.
  "ENOENT",
  "ECONNREFUSED",
  "ECONNRESET",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "ENOTFOUND",
]);

function nodeErrorCode(error: unknown): string | undefined {
  for (let e: unknown = error; typeof e === "object" && e !== null; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

/**
 * A dial that another try cannot mend: the port answered, but not as an HTTP/2 server (an
 * HTTP/1 server, a TLS server without ALPN h2, an https server dialled as http). Unavailable.
 */
export class NotGrpcServerError extends TypedConnectError {
  constructor(message: string) {
    super(message, Code.Unavailable);
  }
}

/**
 * Whether a dial failure may pass with time (refused, reset, timed out) rather than being a
 * setup fault (TLS, a port that is not a gRPC server), which is reported at once instead of retried.
 */
export function isTransientDialError(error: unknown): boolean {
  if (error instanceof NotGrpcServerError) return false;
  const code = nodeErrorCode(error);
  return code === undefined || transientDialCodes.has(code);
}

/**
 * One HTTP/2 connection to one member, re-dialled on demand, on our own framing
 * ({@link Http2Session}): keepalive pings spaced as the server allows, a silence probe for unary calls, and
 * an idle close. A dial completes only on the server's SETTINGS frame, so a port that answers
 * but is not HTTP/2 fails the dial and says so.
 */
export class Http2Connection {
  readonly authority: string;
  private readonly options: Http2ConnectionOptions;
  private readonly host: string;
  private readonly port: number;
  private readonly socketPath: string | undefined;
  // `:authority`: host:port over TCP; over a Unix socket the host, and the port only if given.
  private readonly authorityHeader: string;
  // What errors call the server: the URL, and the socket path when there is one.
  private readonly label: string;
  private readonly secure: boolean;
  private session: Http2Session | undefined;
  private dialing: Promise<Http2Session> | undefined;
  private unaryStreams = 0;
  private streams = 0;
  // Unary calls opened so far, and how many had been when the last probe went out: a connection
  // that served calls since is probed when it goes quiet (counted, so no clock read per call).
  private unaryOpened = 0;
  private unaryOpenedAtProbe = 0;
  // A call that starts now has heard nothing yet: silence counts from the later of this and the last read.
  private quietSince = 0;
  // At most one PING of ours is in flight, keepalive or probe.
  private outstanding: OutstandingPing | undefined;
  private budget = new PingBudget(undefined);
  private readonly rtt: RttEstimator;
  private isResponsive = true;
  private watchdog: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private pingIntervalMs: number;
  // Sessions a GOAWAY took off new calls, each with the timer of its next liveness check: their
  // open streams go on until they end, and the peer must go on answering PINGs meanwhile.
  private readonly draining = new Map<Http2Session, NodeJS.Timeout>();

  constructor(authority: string, options: Http2ConnectionOptions) {
    const url = new URL(authority);
    this.authority = url.origin;
    this.secure = url.protocol === "https:";
    this.host = url.hostname.replace(/^\[|\]$/g, "");
    this.port = Number(url.port || (this.secure ? 443 : 80));
    this.socketPath = options.socketPath;
    this.authorityHeader =
      this.socketPath !== undefined && url.port === ""
        ? hostForAuthority(this.host)
        : `${hostForAuthority(this.host)}:${this.port}`;
    this.label =
      this.socketPath === undefined ? this.authority : `${this.authority} (unix socket ${this.socketPath})`;
    this.options = options;
    this.pingIntervalMs = options.keepAliveTimeMs;
    this.rtt = new RttEstimator({ floorMs: options.silenceProbeMs, ceilingMs: options.keepAliveTimeoutMs });
  }

  /**
   * False from a silence probe unanswered past its timeout until an answer: the member may be
   * paused or cut off, or only slow. See {@link Http2ConnectionOptions.silenceProbeMs}.
   */
  get responsive(): boolean {
    return this.isResponsive;
  }

  /** How long a silence probe waits before the connection counts as unresponsive, in ms. */
  get probeTimeoutMs(): number {
    return this.rtt.timeoutMs();
  }

  /**
   * Fails the open calls that were marked `retrySafe` (reads), so they run again elsewhere
   * rather than wait for their deadline on a member that stopped answering. Others keep waiting.
   */
  failRetrySafe(reason: string): void {
    const session = this.session;
    if (session === undefined) return;
    const doomed = [...session.openStreams()].filter((stream) => stream.retrySafe);
    for (const stream of doomed) stream.cancel(new ConnectError(reason, Code.Unavailable));
  }

  /**
   * Checks the peer now with a PING when the server's policy allows one, as a silence probe
   * does: for callers with their own evidence of silence (a watch without progress answers).
   */
  probe(): void {
    const session = this.session;
    if (session === undefined || !session.usable || this.outstanding !== undefined) return;
    if (!this.budget.allows(Date.now(), session.serverWrites, this.streams)) return;
    this.sendPing(session, "probe");
  }

  /**
   * Where the connection is: `idle` (no session; the next call dials), `connecting` (a dial in
   * flight), `ready` (an open session), `closed` (after {@link close}; calls fail with Canceled).
   * Derived from the session's own state and the dial in flight, so it cannot disagree with them.
   */
  get state(): "idle" | "connecting" | "ready" | "closed" {
    if (this.closed) return "closed";
    if (this.session?.usable === true) return "ready";
    return this.dialing === undefined ? "idle" : "connecting";
  }

  /** True when a session is open and usable without a dial. */
  get ready(): boolean {
    return this.session?.usable === true;
  }

  /** Opens the session if there is none; rejects with a ConnectError on failure or timeout. */
  connect(): Promise<Http2Session> {
    if (this.closed) return Promise.reject(new ConnectError("connection closed", Code.Canceled));
    const session = this.session;
    if (session?.usable) return Promise.resolve(session);
    this.dialing ??= this.dial().finally(() => {
      this.dialing = undefined;
    });
    return this.dialing;
  }

  /**
   * Opens a gRPC stream now on the session that is ready, or returns undefined when there is
   * none (the caller then awaits {@link Http2Connection.request}). Arguments as {@link Http2Session.open}.
   */
  openStream(request: Http2Request, handler: Http2StreamHandler): Http2Stream | undefined {
    const session = this.session;
    if (session === undefined || !session.usable) return undefined;
    return session.open(request, handler);
  }

  /** {@link openStream}, dialling first when needed. */
  async request(request: Http2Request, handler: Http2StreamHandler): Promise<Http2Stream> {
    let session = await this.connect();
    // The session may have gone away between the dial and this continuation: dial once more.
    if (!session.usable) session = await this.connect();
    return session.open(request, handler);
  }

  private dial(): Promise<Http2Session> {
    return new Promise((resolve, reject) => {
      const { host, port, socketPath } = this;
      const reads = readsIntoSlabs ? new ReadSlab() : undefined;
      const onread = reads?.onread;
      const socket = this.secure
        ? tls.connect(secureOptions(this.options.tls, host, port, socketPath, onread))
        : net.connect(socketPath === undefined ? { host, port, onread } : { path: socketPath, onread });
      let settled = false;
      let timedOut = false;
      if (socket instanceof tls.TLSSocket) {
        socket.once("secureConnect", () => {
          // A gRPC server negotiates h2; a TLS server that does not is something else (an HTTP/1
          // proxy, a metrics port), and framing HTTP/2 at it would only confuse it.
          if (socket.alpnProtocol !== "h2") {
            session.destroy(
              new NotGrpcServerError(
                `the TLS server did not negotiate HTTP/2 (ALPN ${socket.alpnProtocol || "none"})`,
              ),
            );
          }
        });
      }
      const timer = setTimeout(() => {
        timedOut = true;
        session.destroy(
          new ConnectError(
            `could not connect to ${this.label} within dialTimeoutMs (${this.options.dialTimeoutMs} ms)`,
            Code.Unavailable,
          ),
        );
      }, this.options.dialTimeoutMs);
      const session: Http2Session = new Http2Session(
        socket,
        this.authorityHeader,
        this.secure ? "https" : "http",
        {
          onReady: () => {
            settled = true;
            clearTimeout(timer);
            if (this.closed) {
              // Closed while dialling: the new session is not wanted.
              session.destroy(undefined);
              reject(new ConnectError(`connection to ${this.label} closed`, Code.Canceled));
              return;
            }
            this.adopt(session);
            resolve(session);
          },
          onClose: (error, closedIdle) => {
            clearTimeout(timer);
            if (!settled) {
              settled = true;
              reject(dialError(this.label, error, timedOut, this.options.serverKind ?? "a gRPC server"));
              return;
            }
            const current = this.session === session;
            clearTimeout(this.draining.get(session));
            this.draining.delete(session);
            this.forget(session);
            // A server closing an idle connection (a proxy's idle timeout) is not a failure;
            // calls that were open on it report their own.
            if (current && error !== undefined && error.code !== Code.Canceled && !closedIdle) {
              this.options.onDead?.(error);
            }
          },
          onGoAway: (code, debug) => {
            // A server's answer to pings it finds too frequent: back off as gRPC-Go does.
            if (code === http2Code.enhanceYourCalm && debug.includes("too_many_pings"))
              this.pingIntervalMs = Math.min(this.pingIntervalMs * 2, maxPingIntervalMs);
            this.forget(session);
            this.watchDraining(session);
          },
          onStreamOpen: (stream) => this.opened(session, stream),
          onStreamClose: (stream) => this.closedStream(session, stream),
        },
        reads,
      );
      // Unreferenced while idle, so an idle client never holds the process open.
      socket.unref();
    });
  }

  private adopt(session: Http2Session): void {
    this.session = session;
    // Streams still open on a replaced session no longer count here.
    this.streams = 0;
    this.unaryStreams = 0;
    // The server counts strikes per connection.
    this.budget = new PingBudget(this.options.serverPingPolicy);
    this.setResponsive(true);
    this.schedulePing();
    this.scheduleIdleClose();
  }

  // The silence check runs only while it can find something: a unary call is waiting, or calls
  // were made since the last probe. A connection that only carries streams (a lease keepalive, a
  // watch) or sits idle sets no timer at all: each wakeup of an idle process costs CPU.
  private armWatchdog(session: Http2Session): void {
    if (this.watchdog !== undefined) return;
    const handle = setTimeout(() => {
      // Checked from setImmediate: after a busy stretch of the event loop the timer runs before
      // the socket reads that are already waiting, which would look like silence.
      setImmediate(() => {
        // Reads in between may have replaced the session and armed a watchdog of its own.
        if (this.watchdog === handle) this.watchdog = undefined;
        if (this.session !== session) return;
        this.checkSilence(session);
        if (this.unaryStreams > 0 || this.unaryOpened !== this.unaryOpenedAtProbe) this.armWatchdog(session);
      });
    }, this.options.silenceProbeMs / 2).unref();
    this.watchdog = handle;
  }

  // A draining session's streams have no other check of the peer (the keepalive follows the
  // current session): a PING every keepalive interval, judged as the keepalive judges its own
  // (after the reads already due, and anything read since the PING proves the peer alive); one
  // with no sign of life within keepAliveTimeoutMs ends the session, its streams failing with
  // Unavailable.
  private watchDraining(session: Http2Session): void {
    if (this.draining.has(session) || this.closed) return;
    const check = () => {
      const sentAt = Date.now();
      let answered = false;
      const id = session.ping(() => {
        answered = true;
      });
      const verdict = setTimeout(
        () =>
          setImmediate(() => {
            if (!this.draining.has(session)) return;
            session.cancelPing(id);
            if (answered || session.lastReadAt > sentAt) {
              this.draining.set(session, setTimeout(check, this.pingIntervalMs).unref());
              return;
            }
            session.destroy(
              new ConnectError(
                `PING to ${this.label} not answered within keepAliveTimeoutMs (${this.options.keepAliveTimeoutMs} ms) after its GOAWAY`,
                Code.Unavailable,
              ),
            );
          }),
        this.options.keepAliveTimeoutMs,
      ).unref();
      this.draining.set(session, verdict);
    };
    this.draining.set(session, setTimeout(check, this.pingIntervalMs).unref());
  }

  // Stops new streams from using a session that is going away; its open streams finish.
  private forget(session: Http2Session): void {
    if (this.session !== session) return;
    this.session = undefined;
    clearTimeout(this.pingTimer);
    clearTimeout(this.idleTimer);
    clearTimeout(this.watchdog);
    this.watchdog = undefined;
    this.dropPing(session);
    this.streams = 0;
    this.unaryStreams = 0;
    // What the probes found was about this session; the next one is judged afresh. (A session
    // that died was reported through onDead, which is what ejects the member.)
    this.isResponsive = true;
  }

  private opened(session: Http2Session, stream: Http2Stream): void {
    if (this.session !== session) return;
    if (this.streams++ === 0) {
      session.ref();
      clearTimeout(this.idleTimer);
    }
    if (stream.probe) {
      this.unaryOpened++;
      if (this.unaryStreams++ === 0) this.quietSince = Date.now();
      this.armWatchdog(session);
    }
  }

  private closedStream(session: Http2Session, stream: Http2Stream): void {
    // Counts belong to the current session; forget() zeroed them for a replaced one.
    if (this.session !== session) return;
    if (stream.probe) this.unaryStreams--;
    if (--this.streams === 0) {
      session.unref();
      this.scheduleIdleClose();
    }
  }

  // Silence is measured from the later of the last read and the first call that waits for one.
  private lastAliveAt(session: Http2Session): number {
    return Math.max(session.lastReadAt, this.quietSince);
  }

  // A call waiting in silence may spend one of the server's strikes on a probe. A connection that
  // merely went quiet after serving calls is checked only when the ping is free (the server wrote
  // to us since our last one): once per quiet stretch, so a member paused between two calls is
  // found before the next call walks into it.
  private checkSilence(session: Http2Session): void {
    const now = Date.now();
    if (this.outstanding !== undefined || this.session !== session) return;
    const silentMs = now - this.lastAliveAt(session);
    if (silentMs < this.options.silenceProbeMs) return;
    const waiting = this.unaryStreams > 0;
    if (!waiting && this.unaryOpened === this.unaryOpenedAtProbe) return;
    const allowed = waiting
      ? this.budget.allows(now, session.serverWrites, this.streams)
      : this.budget.free(now, session.serverWrites, this.streams);
    if (!allowed) return;
    this.unaryOpenedAtProbe = this.unaryOpened;
    this.sendPing(session, "probe");
  }

  private schedulePing(): void {
    clearTimeout(this.pingTimer);
    this.pingTimer = setTimeout(() => this.ping(), this.pingIntervalMs).unref();
  }

  private ping(): void {
    const session = this.session;
    if (session === undefined || !session.usable) return;
    const quiet = Date.now() - this.lastAliveAt(session) >= this.pingIntervalMs;
    if (
      !quiet ||
      this.outstanding !== undefined ||
      (this.streams === 0 && !this.options.permitWithoutStream)
    ) {
      this.schedulePing();
      return;
    }
    this.sendPing(session, "keepalive");
  }

  // Pings once. A probe unanswered within the RTT-derived timeout makes the connection
  // unresponsive; any ping unanswered within keepAliveTimeoutMs kills the session. Each check
  // runs from setImmediate, after the reads a busy event loop left waiting, and anything read
  // since the ping (its answer, or data) proves the peer alive.
  private sendPing(session: Http2Session, kind: "probe" | "keepalive"): void {
    const sentAt = Date.now();
    this.budget.sent(sentAt, session.serverWrites, this.streams);
    const ping: OutstandingPing = { id: 0, sentAt, suspect: undefined, dead: undefined };
    if (kind === "probe") {
      ping.suspect = setTimeout(
        () =>
          setImmediate(() => {
            if (this.outstanding !== ping || session.lastReadAt > sentAt) return;
            this.rtt.backoff();
            this.setResponsive(false);
          }),
        this.rtt.timeoutMs(),
      ).unref();
    }
    ping.dead = setTimeout(
      () =>
        setImmediate(() => {
          if (this.outstanding !== ping) return;
          this.dropPing(session);
          if (session.lastReadAt > sentAt || session.destroyed) {
            if (this.session === session) this.schedulePing();
            return;
          }
          session.destroy(
            new ConnectError(
              `PING to ${this.label} not answered within keepAliveTimeoutMs (${this.options.keepAliveTimeoutMs} ms)`,
              Code.Unavailable,
            ),
          );
        }),
      this.options.keepAliveTimeoutMs,
    ).unref();
    this.outstanding = ping;
    ping.id = session.ping(() => {
      if (this.outstanding !== ping) return;
      this.outstanding = undefined;
      clearTimeout(ping.suspect);
      clearTimeout(ping.dead);
      this.budget.acked(session.serverWrites);
      this.rtt.sample(Date.now() - sentAt);
      this.setResponsive(true);
      if (this.session === session) this.schedulePing();
    });
  }

  // The outstanding ping's answer is no longer awaited (its callback would only hold memory).
  private dropPing(session: Http2Session): void {
    const ping = this.outstanding;
    if (ping === undefined) return;
    this.outstanding = undefined;
    clearTimeout(ping.suspect);
    clearTimeout(ping.dead);
    session.cancelPing(ping.id);
    this.budget.abandoned(session.serverWrites);
  }

  private setResponsive(responsive: boolean): void {
    if (this.isResponsive === responsive) return;
    this.isResponsive = responsive;
    this.options.onResponsive?.(responsive);
  }

  private scheduleIdleClose(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      const session = this.session;
      if (session !== undefined && this.streams === 0) {
        this.forget(session);
        session.close();
      }
    }, idleCloseMs).unref();
  }

  /** Closes the session now (open streams fail with Canceled); later calls fail too. */
  close(): void {
    this.closed = true;
    const session = this.session;
    if (session !== undefined) {
      this.forget(session);
      session.destroy(undefined);
    }
    // Sessions draining after a GOAWAY too: their streams would otherwise outlive the close.
    for (const [draining, timer] of this.draining) {
      clearTimeout(timer);
      draining.destroy(undefined);
    }
    this.draining.clear();
  }
}

// Our PING in flight and its two timers: suspicion (probes only) and death.
interface OutstandingPing {
  id: number;
  readonly sentAt: number;
  suspect: NodeJS.Timeout | undefined;
  dead: NodeJS.Timeout | undefined;
}

// Options for tls.connect. Over a Unix socket, `host` still reaches TLS: Node checks the
// certificate against it when no servername is given. `onread` is a documented option of
// tls.connect (the decrypted bytes land in its buffers) that @types/node does not declare.
function secureOptions(
  options: tls.ConnectionOptions | undefined,
  host: string,
  port: number,
  socketPath: string | undefined,
  onread: net.OnReadOpts | undefined,
): tls.ConnectionOptions & { onread?: net.OnReadOpts | undefined } {
  return socketPath === undefined
    ? { ...options, host, port, ALPNProtocols: ["h2"], onread }
    : { ...options, path: socketPath, host, ALPNProtocols: ["h2"], onread };
}

// An IPv6 host goes into :authority in brackets.
function hostForAuthority(host: string): string {
  return net.isIPv6(host) ? `[${host}]` : host;
}

// Why a dial failed: the socket's own error, our timeout, or a peer that is not HTTP/2.
function dialError(
  authority: string,
  error: ConnectError | undefined,
  timedOut: boolean,
  serverKind: string,
): ConnectError {
  if (error === undefined) return new ConnectError(`connection to ${authority} closed`, Code.Canceled);
  if (timedOut) return error;
  const cause = error.cause;
  if (nodeErrorCode(cause) !== undefined) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    return new ConnectError(
      `cannot connect to ${authority}: ${detail}`,
      Code.Unavailable,
      undefined,
      undefined,
      cause,
    );
  }
  return new NotGrpcServerError(
    `${authority} answered but is not ${serverKind} (${error.rawMessage}; an https server dialled as http?)`,
  );
}
