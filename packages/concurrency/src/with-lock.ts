import type { EtcdApi } from "@etcd-connect/client";
import { ConcurrencyError, canceled, invalidArgument } from "./concurrency-error.js";
import { operationSignal, recipePrefix } from "./keys.js";
import { createMutex, type Mutex } from "./mutex.js";
import { createSession, type Session } from "./session.js";

/** Options of {@link withLock}. */
export interface WithLockOptions {
  /**
   * TTL in seconds of the lease the lock stands on (an integer of at least 1): how long the
   * lock outlives a holder that crashed. Default: 60, as {@link createSession}.
   */
  ttl?: number;
  /**
   * Gives up: while waiting, `withLock` removes its key and rejects with `canceled`; while
   * `fn` runs, `fn`'s signal aborts.
   */
  signal?: AbortSignal;
}

/**
 * The work done under the lock. `signal` aborts when the lock is lost (the session's lease
 * expired or was revoked) or the caller's signal aborts: pass it to every call `fn` makes. The
 * mutex is there for fencing: `txn().if(mutex.isOwnerCompare())` writes only while the lock is
 * still held on the server.
 */
export type LockedFn<T> = (signal: AbortSignal, mutex: Mutex) => Promise<T> | T;

/**
 * Runs `fn` while holding the mutex `name`, in one call: a session of its own, the lock, `fn`,
 * the unlock and the session's end. The lock is released however `fn` ends, also when it
 * throws; a release that fails (etcd unreachable) is left to the lease, which expires within
 * `ttl` seconds.
 *
 * Resolves with `fn`'s result only if the lock was held from the start of `fn` to its end. If
 * the session's lease was lost meanwhile, `fn`'s signal aborts at once and `withLock` rejects
 * with `session_expired` (its `cause` is `fn`'s error, if `fn` threw, else why the session
 * ended), even if `fn` went on and returned: its work was not done under the lock. Any other
 * error of `fn` rejects `withLock` unchanged. The key layout is that of {@link createMutex}, so
 * Go services and `etcdctl lock` share the lock.
 *
 * @example
 * const total = await withLock(client, "locks/invoices", async (signal) => {
 *   const count = Number((await client.getText("invoices/count", { signal })) ?? "0");
 *   await client.put("invoices/count", String(count + 1), { signal });
 *   return count + 1;
 * }, { ttl: 10 });
 */
export async function withLock<T>(
  client: EtcdApi,
  name: string,
  fn: LockedFn<T>,
  options: WithLockOptions = {},
): Promise<T> {
  recipePrefix(name);
  if (typeof fn !== "function") throw invalidArgument(`fn must be a function, got ${typeof fn}`);
  if (options.signal?.aborted) throw canceled(options.signal, `withLock() on ${name}`);
  const session = await createSession(client, {
    ...(options.ttl === undefined ? {} : { ttl: options.ttl }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  const mutex = createMutex(session, name);
  try {
    await mutex.lock(options.signal === undefined ? {} : { signal: options.signal });
    return await runHeld(session, mutex, name, fn, options.signal);
  } finally {
    await release(session, mutex);
  }
}

async function runHeld<T>(
  session: Session,
  mutex: Mutex,
  name: string,
  fn: LockedFn<T>,
  callerSignal: AbortSignal | undefined,
): Promise<T> {
  const scope = operationSignal(session.signal, callerSignal);
  let outcome: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, value: await fn(scope.signal, mutex) };
  } catch (error) {
    outcome = { ok: false, error };
  } finally {
    scope.dispose();
  }
  // Nobody but us ends this session, and we have not yet: it ended because the lease was lost.
  if (session.isDone) {
    const lost = session.signal.reason;
    throw new ConcurrencyError(
      "session_expired",
      `the lock ${name} was lost while fn ran: ${lost instanceof Error ? lost.message : String(lost)}`,
      { cause: outcome.ok ? lost : outcome.error },
    );
  }
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

// How long the release may hold back fn's result. Past it, the lease's TTL frees the lock.
const releaseTimeoutMs = 5_000;

/**
 * Unlock, then revoke the lease: either alone frees the lock, both give a failing network two
 * chances. Each is bounded, so an unreachable etcd does not hold back fn's result (the session's
 * close alone would wait up to its TTL).
 */
async function release(session: Session, mutex: Mutex): Promise<void> {
  const timeoutMs = Math.min(releaseTimeoutMs, session.ttl * 1000);
  if (mutex.isOwner()) {
    try {
      await mutex.unlock({ signal: AbortSignal.timeout(timeoutMs) });
    } catch {
      // The revoke below deletes the key too.
    }
  }
  try {
    await session.close({ timeoutMs });
  } catch {
    // Unreachable etcd: the lease expires within its TTL and takes the key with it.
  }
}
