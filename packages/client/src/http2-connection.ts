import * as http2 from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";

/** Options of an {@link Http2Connection}. */
export interface Http2ConnectionOptions {
  /** Node's session options (TLS settings for https). */
  nodeOptions: http2.ClientSessionOptions | http2.SecureClientSessionOptions;
  /** Bound on TCP, TLS and the server's first SETTINGS frame, in ms. */
  dialTimeoutMs: number;
  /** Ping when nothing was read for this long, in ms (etcd refuses more often than every 5 s). */
  keepAliveTimeMs: number;
  /** A ping not answered within this many ms kills the connection. */
  keepAliveTimeoutMs: number;
  /** Ping connections that carry no stream too. */
  permitWithoutStream: boolean;
  /**
   * A unary call that has read nothing for this long makes the connection prove it is alive
   * with a ping, answered within the same time, or die: so a paused or black-holed member
   * costs one attempt, while a slow but live member keeps its calls.
   */
  silenceProbeMs: number;
  /** Tells unary calls (probed when silent) from streams (watched by their facades). */
  isStreaming: (path: string) => boolean;
  /** Called once per session that dies with an error (ping timeout, reset, protocol error). */
  onDead?: (error: ConnectError) => void;
}

// etcd answers pings spaced less than 5 s apart (--grpc-keepalive-min-time) with GOAWAY
// too_many_pings once it counts three; probes keep a margin over that.
const minPingSpacingMs = 6_000;

const idleCloseMs = 15 * 60_000;

// Connection errors that say the request cannot have reached a server and that a retry
// elsewhere, or later, may fix.
const transientDialCodes = new Set([
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

// Dial failures that another try cannot mend: the port answers but is not an HTTP/2 server.
const permanentDialErrors = new WeakSet<object>();

/**
 * Whether a dial failure may pass with time (refused, reset, timed out) rather than being a
 * setup fault (TLS, a port that is not etcd), which is reported at once instead of retried.
 */
export function isTransientDialError(error: unknown): boolean {
  if (typeof error === "object" && error !== null && permanentDialErrors.has(error)) return false;
  const code = nodeErrorCode(error);
  return code === undefined || transientDialCodes.has(code);
}

function notEtcd(error: ConnectError): ConnectError {
  permanentDialErrors.add(error);
  return error;
}

/**
 * One HTTP/2 connection to one member, re-opened on demand. It has the shape of connect-node's
 * session manager (`authority`, `request`, `notifyResponseByteRead`), so its HTTP client runs on it.
 *
 * Why not connect-node's Http2SessionManager (2.1): measured here, it lets a session emit
 * 'error' with no listener attached (a session that fails after its state moved on, e.g. an
 * HTTP/1.1 server answering, or a request started in the tick after "PING timed out"), and
 * it pings sessions that are already destroyed; either crashes the process. Here every
 * session keeps an error listener for its whole life, pings check the session first, and a
 * dial waits for the server's SETTINGS frame, so a port that is not HTTP/2 fails the dial.
 */
export class Http2Connection {
  readonly authority: string;
  private readonly options: Http2ConnectionOptions;
  private session: http2.ClientHttp2Session | undefined;
  private dialing: Promise<http2.ClientHttp2Session> | undefined;
  private streams = 0;
  private unaryStreams = 0;
  private lastAliveAt = 0;
  private lastPingAt = 0;
  private probing = false;
  private watchdog: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(authority: string, options: Http2ConnectionOptions) {
    this.authority = authority;
    this.options = options;
  }

  /** True when a session is open and usable without a dial. */
  get ready(): boolean {
    return this.session !== undefined && isUsable(this.session);
  }

  /** Opens the session if there is none; rejects with a ConnectError on failure or timeout. */
  connect(): Promise<http2.ClientHttp2Session> {
    if (this.closed) return Promise.reject(new ConnectError("connection closed", Code.Canceled));
    if (this.session !== undefined && isUsable(this.session)) return Promise.resolve(this.session);
    this.dialing ??= this.dial().finally(() => {
      this.dialing = undefined;
    });
    return this.dialing;
  }

  private dial(): Promise<http2.ClientHttp2Session> {
    return new Promise((resolve, reject) => {
      const session = http2.connect(this.authority, this.options.nodeOptions);
      let settled = false;
      const fail = (error: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (!session.destroyed) session.destroy();
        reject(dialError(this.authority, error));
      };
      const timer = setTimeout(
        () =>
          fail(
            new ConnectError(
              `could not connect to ${this.authority} within dialTimeoutMs (${this.options.dialTimeoutMs} ms)`,
              Code.Unavailable,
            ),
          ),
        this.options.dialTimeoutMs,
      );
      // Kept for the session's whole life: an 'error' without a listener would crash Node.
      session.on("error", (error) => {
        fail(error);
        this.died(session, error);
      });
      session.once("close", () => {
        fail(
          notEtcd(
            new ConnectError(
              `${this.authority} answered but is not an etcd gRPC server (it closed the connection before HTTP/2 started; an https member dialled as http?)`,
              Code.Unavailable,
            ),
          ),
        );
        this.forget(session);
      });
      session.once("connect", () => {
        // TLS failures the server reports after the handshake (a refused client certificate)
        // reach the socket, not the session, and only once something is written: a ping does.
        session.socket.once("error", fail);
        try {
          session.ping(() => {});
        } catch (error) {
          fail(error);
        }
      });
      session.on("goaway", () => this.forget(session));
      // The server's SETTINGS frame proves an HTTP/2 server; 'connect' only proves TCP (and TLS).
      session.once("remoteSettings", () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        session.socket.off("error", fail);
        this.adopt(session);
        resolve(session);
      });
    });
  }

  private adopt(session: http2.ClientHttp2Session): void {
    this.session = session;
    this.lastAliveAt = Date.now();
    session.unref();
    this.schedulePing();
    this.scheduleIdleClose();
  }

  private died(session: http2.ClientHttp2Session, error: unknown): void {
    if (this.session !== session) return;
    this.forget(session);
    this.options.onDead?.(ConnectError.from(error, Code.Unavailable));
  }

  // Stops new streams from using a session that is going away; its open streams finish.
  private forget(session: http2.ClientHttp2Session): void {
    if (this.session !== session) return;
    this.session = undefined;
    clearTimeout(this.pingTimer);
    clearTimeout(this.idleTimer);
    clearInterval(this.watchdog);
    this.streams = 0;
    this.unaryStreams = 0;
    this.probing = false;
  }

  async request(
    method: string,
    path: string,
    headers: http2.OutgoingHttpHeaders,
    options: Omit<http2.ClientSessionRequestOptions, "signal">,
  ): Promise<http2.ClientHttp2Stream> {
    const session = await this.connect();
    return this.open(session, { ...headers, ":method": method, ":path": path }, path, options);
  }

  /**
   * Opens a stream now, on the session that is ready, or returns undefined when there is none
   * (the caller then takes the async `request`). `headers` carry `:method` and `:path`.
   */
  openStream(headers: http2.OutgoingHttpHeaders, path: string): http2.ClientHttp2Stream | undefined {
    const session = this.session;
    if (session === undefined || session.destroyed || session.closed) return undefined;
    return this.open(session, headers, path, undefined);
  }

  private open(
    session: http2.ClientHttp2Session,
    headers: http2.OutgoingHttpHeaders,
    path: string,
    options: Omit<http2.ClientSessionRequestOptions, "signal"> | undefined,
  ): http2.ClientHttp2Stream {
    const stream = session.request(headers, options);
    if (this.streams++ === 0) {
      session.ref();
      clearTimeout(this.idleTimer);
    }
    const unary = !this.options.isStreaming(path);
    if (unary && this.unaryStreams++ === 0) {
      // A call that starts now has heard nothing yet; silence counts from here.
      this.lastAliveAt = Math.max(this.lastAliveAt, Date.now());
      // Checked from setImmediate: after a busy stretch of the event loop the timer runs before
      // the socket reads that are already waiting, which would look like silence.
      this.watchdog = setInterval(
        () => setImmediate(() => this.checkSilence(session)),
        this.options.silenceProbeMs / 2,
      ).unref();
    }
    stream.once("close", () => {
      // Counts belong to the current session; forget() zeroed them for a replaced one.
      if (this.session !== session) return;
      if (unary && --this.unaryStreams === 0) clearInterval(this.watchdog);
      if (--this.streams === 0) {
        session.unref();
        this.scheduleIdleClose();
      }
    });
    return stream;
  }

  notifyResponseByteRead(): void {
    this.lastAliveAt = Date.now();
  }

  private checkSilence(session: http2.ClientHttp2Session): void {
    const now = Date.now();
    if (this.probing || this.session !== session || now - this.lastAliveAt < this.options.silenceProbeMs)
      return;
    if (now - this.lastPingAt < minPingSpacingMs) return;
    this.probing = true;
    this.sendPing(session, this.options.silenceProbeMs, () => {
      this.probing = false;
    });
  }

  private schedulePing(): void {
    clearTimeout(this.pingTimer);
    this.pingTimer = setTimeout(() => this.ping(), this.options.keepAliveTimeMs).unref();
  }

  private ping(): void {
    const session = this.session;
    if (session === undefined || !isUsable(session)) return;
    const quiet = Date.now() - this.lastAliveAt >= this.options.keepAliveTimeMs;
    if (!quiet || (this.streams === 0 && !this.options.permitWithoutStream)) {
      this.schedulePing();
      return;
    }
    this.sendPing(session, this.options.keepAliveTimeoutMs, () => {
      if (this.session === session) this.schedulePing();
    });
  }

  // Pings once; no answer within timeoutMs kills the session. onAnswer runs on an answer.
  private sendPing(session: http2.ClientHttp2Session, timeoutMs: number, onAnswer: () => void): void {
    const sentAt = Date.now();
    this.lastPingAt = sentAt;
    const timeout = setTimeout(
      () =>
        setImmediate(() => {
          // Anything read since the ping (its answer, or data) proves the peer alive; reads
          // waiting behind a busy event loop are processed before this check runs.
          if (this.lastAliveAt > sentAt || session.destroyed) return;
          const error = new ConnectError(`PING to ${this.authority} timed out`, Code.Unavailable);
          this.died(session, error);
          session.destroy(error);
        }),
      timeoutMs,
    ).unref();
    try {
      session.ping((error) => {
        clearTimeout(timeout);
        if (error === null) {
          this.lastAliveAt = Date.now();
          onAnswer();
        }
      });
    } catch (error) {
      // ping() throws synchronously on a session destroyed since the caller's check.
      clearTimeout(timeout);
      this.died(session, error);
      session.destroy();
    }
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

  /** Closes the session now (open streams fail); later calls fail with Canceled. */
  close(): void {
    this.closed = true;
    const session = this.session;
    if (session !== undefined) {
      this.forget(session);
      session.destroy();
    }
  }
}

function isUsable(session: http2.ClientHttp2Session): boolean {
  return !session.destroyed && !session.closed;
}

function dialError(authority: string, cause: unknown): ConnectError {
  if (cause instanceof ConnectError) return cause;
  const code = (cause as { code?: unknown } | undefined)?.code;
  const detail = cause instanceof Error ? cause.message : String(cause);
  if (code === "ERR_HTTP2_ERROR" || code === "ERR_HTTP2_SESSION_ERROR") {
    return notEtcd(
      new ConnectError(
        `${authority} answered but is not an etcd gRPC server (HTTP/2 failed: ${detail})`,
        Code.Unavailable,
        undefined,
        undefined,
        cause,
      ),
    );
  }
  return new ConnectError(
    `cannot connect to ${authority}: ${detail}`,
    Code.Unavailable,
    undefined,
    undefined,
    cause,
  );
}
