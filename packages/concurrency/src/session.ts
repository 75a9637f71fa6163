import { type EtcdApi, EtcdError, type Int64Like, type LeaseKeeper } from "@etcd-connect/client";
import { ConcurrencyError } from "./concurrency-error.js";

/**
 * What the concurrency recipes need of a client: KV, Watch and Lease. `createClient(...)`
 * returns one, and so does a namespace of `@etcd-connect/namespace`, so locks and elections
 * work unchanged inside a namespace.
 */
/** @deprecated Use {@link EtcdApi} from `@etcd-connect/client`: the same contract. */
export type EtcdLike = EtcdApi;

/** Options of {@link createSession}. */
export interface SessionOptions {
  /**
   * TTL of the session's lease in seconds (an integer of at least 1). Default: 60, as Go's
   * `concurrency.NewSession`. With `lease`, the TTL etcd granted that lease is used instead.
   */
  ttl?: number;
  /**
   * Keep this existing lease alive instead of granting one, like Go's `WithLease`: a restarted
   * process can take back the locks and leadership its keys still hold. Default: grant a lease.
   */
  lease?: Int64Like;
  /** Cancels the lease grant. */
  signal?: AbortSignal;
}

/** Why a session ended: the keeper's `lease_expired`/`lease_not_found`, or a ConcurrencyError. */
export type SessionEnd = EtcdError | ConcurrencyError;

/**
 * A lease kept alive by the client's keeper, as Go's `concurrency.Session`: the liveness every
 * mutex and election of the session stands on. Their keys carry the lease, so they vanish with
 * it.
 *
 * @example
 * const session = await createSession(client, { ttl: 10 });
 * void session.done.then((why) => console.log("session over:", why.reason));
 * // ... mutexes and elections on the session ...
 * await session.close(); // revokes the lease: every key of the session is deleted
 */
export interface Session extends AsyncDisposable {
  /** The client (or namespace) the session runs on. */
  readonly client: EtcdApi;
  /** The lease id; mutex and election keys end with it in lowercase hex. */
  readonly lease: bigint;
  /** The lease TTL in seconds. */
  readonly ttl: number;
  /**
   * Settles (never rejects) when the session is over, with why:
   * - the keeper's `lost` reason (`EtcdError` with `lease_expired` or `lease_not_found`). It
   *   settles no later than the send time of the last acknowledged keepalive plus the TTL, so
   *   before etcd can expire the lease and hand a lock or leadership to someone else;
   * - `EtcdError` `lease_not_found` when the lease was revoked (also through this very client);
   * - `ConcurrencyError` `session_expired` when the keeper stopped for another cause (the client
   *   was closed);
   * - `ConcurrencyError` `session_closed` after `close()` or `orphan()`.
   */
  readonly done: Promise<SessionEnd>;
  /** Aborted (with the `done` reason) when the session is over: pass it to work done under it. */
  readonly signal: AbortSignal;
  /** True once `done` has settled. */
  readonly isDone: boolean;
  /**
   * Ends the session: settles `done`, stops the keepalive and revokes the lease, so every key
   * of the session is deleted at once. A revoke that takes longer than the TTL is given up
   * (`timeoutMs`, default the TTL): the lease expires by then anyway. Idempotent.
   */
  close(options?: { timeoutMs?: number }): Promise<void>;
  /**
   * Ends the session without revoking the lease (Go's `Orphan`): its keys live until the TTL
   * runs out, or until another session on the same lease takes them back.
   */
  orphan(): Promise<void>;
}

const defaultTtl = 60;

/**
 * Grants a lease (or adopts `options.lease`) and keeps it alive through the client's keeper.
 *
 * @example
 * await using session = await createSession(client, { ttl: 5 });
 */
export async function createSession(client: EtcdApi, options: SessionOptions = {}): Promise<Session> {
  const ttl = options.ttl ?? defaultTtl;
  if (!Number.isSafeInteger(ttl) || ttl < 1) {
    throw new ConcurrencyError("invalid_argument", `session ttl must be an integer >= 1 second, got ${ttl}`);
  }
  const call = options.signal === undefined ? {} : { signal: options.signal };
  if (options.lease === undefined) {
    const granted = await client.lease.grant(ttl, call);
    return new SessionImpl(client, granted.ID, Number(granted.TTL));
  }
  const given = options.lease;
  if (
    typeof given === "number"
      ? !Number.isSafeInteger(given) || given < 1
      : typeof given !== "bigint" || given < 1n
  ) {
    throw new ConcurrencyError(
      "invalid_argument",
      `lease must be a positive integer id, got ${String(given)}`,
    );
  }
  const lease = BigInt(given);
  const live = await client.lease.timeToLive(lease, call);
  if (live.TTL <= 0n) {
    throw new ConcurrencyError(
      "session_expired",
      `lease ${lease.toString(16)} does not exist (expired or revoked)`,
    );
  }
  return new SessionImpl(client, lease, Number(live.grantedTTL));
}

class SessionImpl implements Session {
  readonly client: EtcdApi;
  readonly lease: bigint;
  readonly ttl: number;
  readonly done: Promise<SessionEnd>;
  private readonly abort = new AbortController();
  private readonly keeper: LeaseKeeper;
  private settle: (end: SessionEnd) => void = () => {};
  private ended = false;
  private closing: Promise<void> | undefined;

  constructor(client: EtcdApi, lease: bigint, ttl: number) {
    this.client = client;
    this.lease = lease;
    this.ttl = ttl;
    this.done = new Promise<SessionEnd>((resolve) => {
      this.settle = resolve;
    });
    this.keeper = client.lease.keepAlive(lease);
    void this.keeper.lost.then((reason) => this.end(reason));
    void this.drain();
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get isDone(): boolean {
    return this.ended;
  }

  // Reading the answers is how we learn that the keeper stopped for a cause other than `lost`
  // (a revoke through the same client, the client closing): Go's session does the same.
  private async drain(): Promise<void> {
    try {
      for await (const _ of this.keeper) {
        // Only the end of the iteration matters.
      }
    } catch {
      // `lost` carries the reason.
      return;
    }
    this.end(
      new ConcurrencyError(
        "session_expired",
        `lease ${this.lease.toString(16)} is no longer kept alive (revoked through this client, or the client was closed)`,
      ),
    );
  }

  private end(reason: SessionEnd): void {
    if (this.ended) return;
    this.ended = true;
    this.settle(reason);
    this.abort.abort(reason);
  }

  close(options: { timeoutMs?: number } = {}): Promise<void> {
    this.closing ??= (async () => {
      // Holders stop acting on the session before its keys disappear.
      this.end(new ConcurrencyError("session_closed", "the session was closed"));
      await this.keeper.close();
      try {
        await this.client.lease.revoke(this.lease, { timeoutMs: options.timeoutMs ?? this.ttl * 1000 });
      } catch (error) {
        if (!EtcdError.is(error, "lease_not_found")) throw error;
      }
    })();
    return this.closing;
  }

  async orphan(): Promise<void> {
    this.end(new ConcurrencyError("session_closed", "the session was orphaned"));
    await this.keeper.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Throws when the session is over: nothing new may be started under it. */
export function assertLive(session: Session): void {
  if (!session.isDone) return;
  const reason = session.signal.reason as SessionEnd;
  throw sessionOver(session, reason);
}

/** The error of a wait or call that failed because its session ended. */
export function sessionOver(session: Session, reason: unknown): ConcurrencyError {
  const closed = ConcurrencyError.is(reason, "session_closed");
  return new ConcurrencyError(
    closed ? "session_closed" : "session_expired",
    closed
      ? `session ${session.lease.toString(16)} is closed`
      : `session ${session.lease.toString(16)} is expired: ${reason instanceof Error ? reason.message : String(reason)}`,
    { cause: reason },
  );
}
