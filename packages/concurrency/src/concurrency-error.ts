/**
 * Stable reasons of a {@link ConcurrencyError}. Failures of etcd calls themselves stay the
 * client's `EtcdError`s (`unavailable`, `compacted`, ...); these are the outcomes that only
 * make sense for locks, elections and transactions.
 */
export type ConcurrencyErrorReason =
  /** `tryLock()`: another session holds the mutex. */
  | "locked"
  /** `lock()`/`tryLock()` on a mutex object that already holds or waits for the lock. */
  | "already_locked"
  /** `campaign()` while a campaign of the same election object is still waiting. */
  | "already_campaigning"
  /** `isOwnerCompare()` on a mutex this object does not hold. */
  | "not_locked"
  /** The session's lease is gone (or may be): lost keepalives, revoked, expired. */
  | "session_expired"
  /** The session was closed (or orphaned) by its owner. */
  | "session_closed"
  /** `proclaim()` by a candidate that does not (or no longer) lead. */
  | "not_leader"
  /** The caller's signal aborted the wait. */
  | "canceled"
  /**
   * A conditional write lost to other writers on every attempt it was allowed: `runSTM`, or a
   * priority queue's `enqueue()` taking the next sequence number.
   */
  | "retries_exhausted"
  /** A call was used after its STM attempt had ended (the `stm` object escaped `fn`). */
  | "stm_finished"
  /** A double barrier's `enter()` found more participants than its count (Go's `ErrTooManyClients`). */
  | "barrier_full"
  /**
   * A key under a recipe's prefix does not have the layout the recipe writes (a priority queue
   * entry whose last segment is not a sequence number): someone else writes there.
   */
  | "unexpected_key"
  /** Bad input, refused before anything was sent. */
  | "invalid_argument";

const brand = Symbol.for("@etcd-connect/concurrency/ConcurrencyError");

/**
 * The error of `@etcd-connect/concurrency` for outcomes the client's `EtcdError` has no reason
 * for: `tryLock()` finding the mutex `locked`, a lost session, `not_leader`, ... Errors of the
 * etcd calls underneath are passed through as the client's `EtcdError`.
 *
 * `ConcurrencyError.is(err, "locked")` and `instanceof` work across duplicate package copies.
 *
 * @example
 * try {
 *   await mutex.tryLock();
 * } catch (error) {
 *   if (ConcurrencyError.is(error, "locked")) console.log("busy, try later");
 *   else throw error;
 * }
 */
export class ConcurrencyError extends Error {
  override name = "ConcurrencyError";
  readonly reason: ConcurrencyErrorReason;

  constructor(reason: ConcurrencyErrorReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }

  /** Brand check that holds across duplicate package copies, unlike a plain prototype check. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && brand in value;
  }

  /** True when `value` is a ConcurrencyError, optionally with the given reason. */
  static is(value: unknown, reason?: ConcurrencyErrorReason): value is ConcurrencyError {
    return value instanceof ConcurrencyError && (reason === undefined || value.reason === reason);
  }
}
Object.defineProperty(ConcurrencyError.prototype, brand, { value: true });

/** The error of bad input, refused before anything is sent. */
export function invalidArgument(message: string): ConcurrencyError {
  return new ConcurrencyError("invalid_argument", message);
}

/** The error a wait ends with when the caller's signal aborts it. */
export function canceled(signal: AbortSignal, what: string): ConcurrencyError {
  return new ConcurrencyError("canceled", `${what} was canceled`, { cause: signal.reason });
}
