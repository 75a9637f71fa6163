import {
  type Compare,
  compare,
  opGet,
  opPut,
  type ResponseHeader,
  type TxnResponse,
} from "@etcd-connect/client";
import { ConcurrencyError, canceled } from "./concurrency-error.js";
import { firstKvAt, operationSignal, opFirstCreated, recipePrefix, sessionKey } from "./keys.js";
import { assertLive, type Session, sessionOver } from "./session.js";
import { waitDeletes } from "./wait-deletes.js";

/** Options of {@link Mutex.lock} and the other mutex calls. */
export interface MutexCallOptions {
  /** Gives up: a waiting `lock()` leaves the queue and rejects with `canceled`. */
  signal?: AbortSignal;
}

/**
 * A distributed lock, as Go's `concurrency.Mutex` and with its key layout, so Go services and
 * `etcdctl lock` share it. Each contender puts `<name>/<lease id in hex>` under its session's
 * lease; the key with the lowest create revision holds the lock; the others wait, in order,
 * each for the deletion of the key queued right before its own (a watch, not polling).
 *
 * The lock belongs to the session: mutexes on the same session and name share one key, so
 * they do not exclude each other. Give each contender its own session.
 *
 * @example
 * const mutex = createMutex(session, "locks/report");
 * await mutex.lock();
 * try {
 *   // Guard writes with the ownership compare: they fail if the lock was lost meanwhile.
 *   await client.txn().if(mutex.isOwnerCompare()).then(opPut("report/state", "done")).commit();
 * } finally {
 *   await mutex.unlock();
 * }
 */
export interface Mutex {
  /** The session the lock is held by. */
  readonly session: Session;
  /** The key prefix: the name and a "/". */
  readonly prefix: string;
  /** Our key while waiting or holding (`<prefix><lease hex>`); undefined otherwise. */
  readonly key: string | undefined;
  /** Create revision of our key while holding: the lock's fencing token. */
  readonly revision: bigint | undefined;
  /** Header of the response that confirmed the lock (its revision is the acquisition's). */
  readonly header: ResponseHeader | undefined;
  /**
   * Waits for the lock, fairly. Rejects with `canceled` (signal), `session_expired` /
   * `session_closed` (the session ended first) or an `EtcdError`; in every case our queue
   * entry is removed before the rejection.
   */
  lock(options?: MutexCallOptions): Promise<void>;
  /** Takes the lock if it is free; otherwise leaves the queue and rejects with `locked`. */
  tryLock(options?: MutexCallOptions): Promise<void>;
  /** Releases the lock (deletes our key). Does nothing when the lock is not held. */
  unlock(options?: MutexCallOptions): Promise<void>;
  /** True while the lock is held and its session is not over. */
  isOwner(): boolean;
  /**
   * A txn compare that holds only while our key is the one that took the lock (its create
   * revision): `txn().if(mutex.isOwnerCompare())` makes a write conditional on still holding
   * the lock on the server. Throws `not_locked` when this mutex holds no key.
   */
  isOwnerCompare(): Compare;
}

/**
 * A mutex named `name` on a session. The key prefix is `name + "/"`, as Go's `NewMutex`.
 *
 * @example
 * const mutex = createMutex(session, "locks/report");
 */
export function createMutex(session: Session, name: string): Mutex {
  return new MutexImpl(session, recipePrefix(name));
}

class MutexImpl implements Mutex {
  readonly session: Session;
  readonly prefix: string;
  private state: "idle" | "locking" | "held" = "idle";
  private myKey: string | undefined;
  private myRevision: bigint | undefined;
  private lastHeader: ResponseHeader | undefined;

  constructor(session: Session, prefix: string) {
    this.session = session;
    this.prefix = prefix;
  }

  get key(): string | undefined {
    return this.myKey;
  }

  get revision(): bigint | undefined {
    return this.state === "held" ? this.myRevision : undefined;
  }

  get header(): ResponseHeader | undefined {
    return this.lastHeader;
  }

  isOwner(): boolean {
    return this.state === "held" && !this.session.isDone;
  }

  isOwnerCompare(): Compare {
    if (this.myKey === undefined || this.myRevision === undefined || this.state !== "held") {
      throw new ConcurrencyError("not_locked", `mutex ${this.prefix} is not locked by this object`);
    }
    return compare.createRevision(this.myKey, "=", this.myRevision);
  }

  async lock(options: MutexCallOptions = {}): Promise<void> {
    this.begin();
    const { signal, dispose } = operationSignal(this.session.signal, options.signal);
    try {
      const res = await this.enqueue(signal);
      const holder = firstKvAt(res, 1);
      if (holder !== undefined && holder.createRevision !== this.myRevision) {
        await waitDeletes(this.session.client, this.prefix, (this.myRevision ?? 0n) - 1n, signal);
        // The queue ahead is empty; our key must still be ours (the lease may have expired).
        const mine = await this.session.client.get(this.myKey ?? "", { signal });
        if (mine.kvs[0]?.createRevision !== this.myRevision) {
          throw sessionOver(this.session, "our lock key is gone: the session's lease expired or was revoked");
        }
        this.lastHeader = mine.header;
      } else {
        this.lastHeader = res.header;
      }
      this.state = "held";
    } catch (error) {
      await this.leaveQueue();
      throw this.explain(error, options.signal, "lock()");
    } finally {
      dispose();
    }
  }

  async tryLock(options: MutexCallOptions = {}): Promise<void> {
    this.begin();
    const { signal, dispose } = operationSignal(this.session.signal, options.signal);
    let holder: string | undefined;
    try {
      const res = await this.enqueue(signal);
      const first = firstKvAt(res, 1);
      if (first === undefined || first.createRevision === this.myRevision) {
        this.lastHeader = res.header;
        this.state = "held";
        return;
      }
      holder = new TextDecoder().decode(first.key);
    } catch (error) {
      await this.leaveQueue();
      throw this.explain(error, options.signal, "tryLock()");
    } finally {
      dispose();
    }
    await this.leaveQueue();
    throw new ConcurrencyError("locked", `mutex ${this.prefix} is locked by another session (${holder})`);
  }

  async unlock(options: MutexCallOptions = {}): Promise<void> {
    if (this.state === "locking") {
      throw new ConcurrencyError(
        "invalid_argument",
        "unlock() while lock() is waiting: abort the lock's signal to leave the queue",
      );
    }
    if (this.state === "idle") return;
    await this.session.client.delete(this.myKey ?? "", options);
    this.reset();
  }

  private begin(): void {
    if (this.state !== "idle") {
      throw new ConcurrencyError(
        "already_locked",
        `mutex ${this.prefix} is already ${this.state === "held" ? "held" : "being locked"} by this object`,
      );
    }
    assertLive(this.session);
    this.state = "locking";
  }

  /**
   * Puts our key (unless the session already has one: then it is reused, as Go does) and reads
   * the holder, in one round trip: an uncontended lock costs a single txn.
   */
  private async enqueue(signal: AbortSignal): Promise<TxnResponse> {
    const { client, lease } = this.session;
    const key = sessionKey(this.prefix, lease);
    this.myKey = key;
    const res = await client
      .txn()
      .if(compare.createRevision(key, "=", 0))
      .then(opPut(key, "", { lease }), opFirstCreated(this.prefix))
      .else(opGet(key), opFirstCreated(this.prefix))
      .commit({ signal });
    this.myRevision = res.succeeded
      ? (res.header?.revision ?? 0n)
      : (firstKvAt(res, 0)?.createRevision ?? 0n);
    return res;
  }

  /** Removes our key after a failed or refused attempt; best effort, its lease bounds it anyway. */
  private async leaveQueue(): Promise<void> {
    const key = this.myKey;
    this.reset();
    if (key === undefined) return;
    try {
      await this.session.client.delete(key);
    } catch {
      // The key carries the session's lease: it goes when the session does.
    }
  }

  private reset(): void {
    this.state = "idle";
    this.myKey = undefined;
    this.myRevision = undefined;
  }

  private explain(error: unknown, signal: AbortSignal | undefined, what: string): unknown {
    if (ConcurrencyError.is(error)) return error;
    if (this.session.isDone) return sessionOver(this.session, this.session.signal.reason);
    if (signal?.aborted) return canceled(signal, `${what} on ${this.prefix}`);
    return error;
  }
}
