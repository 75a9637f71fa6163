import {
  type Compare,
  compare,
  EventType,
  opDelete,
  opGet,
  type ResponseHeader,
  type TxnResponse,
} from "@etcd-connect/client";
import { ConcurrencyError, canceled } from "./concurrency-error.js";
import { firstKvAt, operationSignal, rangeAt, recipePrefix } from "./keys.js";
import { putUniqueKey } from "./recipe-keys.js";
import { assertLive, type Session, sessionOver } from "./session.js";
import { waitEvent } from "./wait-event.js";

/** Options of the {@link RWMutex} calls. */
export interface RWMutexCallOptions {
  /** Gives up: a waiting `rLock()`/`lock()` removes its key and rejects with `canceled`. */
  signal?: AbortSignal;
}

/**
 * A readers-writer lock, as Go's `recipe.RWMutex` and with its key layout: many readers, or one
 * writer. Each acquisition puts a fresh key under the session's lease, `<name>/read/<ns>` or
 * `<name>/write/<ns>` (`<ns>` the clock in nanoseconds). A reader waits until no writer key
 * older than its own remains; a writer waits until no key older than its own remains. Waiters
 * are served in the order they came: a reader that arrives after a waiting writer waits for it.
 *
 * Each lock is its own key, so two RWMutex objects exclude each other even on one session. One
 * object holds one lock at a time, read or write.
 *
 * @example
 * const rw = createRWMutex(session, "locks/catalog");
 * await rw.rLock(); // shared with other readers
 * try {
 *   console.log(await client.getText("catalog/version"));
 * } finally {
 *   await rw.rUnlock();
 * }
 */
export interface RWMutex {
  /** The session the lock is held by. */
  readonly session: Session;
  /** The key prefix: the name and a "/". */
  readonly prefix: string;
  /** Our key while waiting or holding; undefined otherwise. */
  readonly key: string | undefined;
  /** Whether the lock held is a read or a write lock; undefined while nothing is held. */
  readonly mode: "read" | "write" | undefined;
  /** Create revision of our key while holding: the lock's fencing token. */
  readonly revision: bigint | undefined;
  /** Header of the read that confirmed the lock: its revision is when we got it. */
  readonly header: ResponseHeader | undefined;
  /**
   * Takes a read lock: waits until no writer that came before us holds or waits. Rejects with
   * `canceled`, `session_expired`/`session_closed` or an `EtcdError`, having removed our key.
   */
  rLock(options?: RWMutexCallOptions): Promise<void>;
  /** Releases the read lock (deletes our key). Does nothing when nothing is held. */
  rUnlock(options?: RWMutexCallOptions): Promise<void>;
  /** Takes the write lock: waits until every reader and writer that came before us is gone. */
  lock(options?: RWMutexCallOptions): Promise<void>;
  /** Releases the write lock (deletes our key). Does nothing when nothing is held. */
  unlock(options?: RWMutexCallOptions): Promise<void>;
  /** True while a lock is held and its session is not over. */
  isOwner(): boolean;
  /**
   * A txn compare that holds only while our key is the one that took the lock: makes a write
   * conditional on still holding it on the server. Throws `not_locked` when nothing is held.
   */
  isOwnerCompare(): Compare;
}

/**
 * A readers-writer lock named `name` on a session, as Go's `recipe.NewRWMutex(s, name)`: its
 * keys are `<name>/read/<ns>` and `<name>/write/<ns>`.
 *
 * @example
 * const rw = createRWMutex(session, "locks/catalog");
 */
export function createRWMutex(session: Session, name: string): RWMutex {
  return new RWMutexImpl(session, recipePrefix(name));
}

type Mode = "read" | "write";

class RWMutexImpl implements RWMutex {
  readonly session: Session;
  readonly prefix: string;
  private state: "idle" | "locking" | "held" = "idle";
  private held: Mode | undefined;
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

  get mode(): Mode | undefined {
    return this.state === "held" ? this.held : undefined;
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
    if (this.state !== "held" || this.myKey === undefined || this.myRevision === undefined) {
      throw new ConcurrencyError("not_locked", `rwmutex ${this.prefix} is not locked by this object`);
    }
    return compare.createRevision(this.myKey, "=", this.myRevision);
  }

  rLock(options: RWMutexCallOptions = {}): Promise<void> {
    return this.acquire("read", options);
  }

  lock(options: RWMutexCallOptions = {}): Promise<void> {
    return this.acquire("write", options);
  }

  rUnlock(options: RWMutexCallOptions = {}): Promise<void> {
    return this.release("read", options);
  }

  unlock(options: RWMutexCallOptions = {}): Promise<void> {
    return this.release("write", options);
  }

  private async acquire(mode: Mode, options: RWMutexCallOptions): Promise<void> {
    if (this.state !== "idle") {
      throw new ConcurrencyError(
        "already_locked",
        `rwmutex ${this.prefix} is already ${this.state === "held" ? "held" : "being locked"} by this object`,
      );
    }
    assertLive(this.session);
    this.state = "locking";
    this.held = mode;
    const { client, lease } = this.session;
    const { signal, dispose } = operationSignal(this.session.signal, options.signal);
    try {
      const mine = await putUniqueKey(client, `${this.prefix}${mode}/`, "", {
        lease,
        signal,
        trying: (key) => {
          this.myKey = key;
        },
      });
      this.myRevision = mine.revision;
      // Go's rule: readers only wait for older writers, writers for anything older.
      const blockers = mode === "read" ? `${this.prefix}write/` : this.prefix;
      for (;;) {
        const res = await this.readAhead(blockers, mine.key, mine.revision, signal);
        if (rangeAt(res, 1)?.count !== 1n) {
          throw sessionOver(this.session, "our lock key is gone: the session's lease expired or was revoked");
        }
        const ahead = firstKvAt(res, 0);
        if (ahead === undefined) {
          this.lastHeader = res.header;
          break;
        }
        // The newest key ahead of ours: once it goes, read again (it was the last to go, or
        // an older one still stands and we wait for that one next).
        await waitEvent(
          client,
          ahead.key,
          { startRevision: res.header?.revision ?? 0n, type: EventType.DELETE },
          signal,
        );
      }
      this.state = "held";
    } catch (error) {
      await this.leaveQueue();
      if (ConcurrencyError.is(error)) throw error;
      if (this.session.isDone) throw sessionOver(this.session, this.session.signal.reason);
      if (options.signal?.aborted) {
        throw canceled(options.signal, `${mode === "read" ? "rLock" : "lock"}() on ${this.prefix}`);
      }
      throw error;
    } finally {
      dispose();
    }
  }

  /**
   * In one round trip: the newest blocking key older than ours (by mod revision, as Go's
   * `waitOnLastRev`), and whether our own key still exists.
   */
  private readAhead(
    blockers: string,
    key: string,
    revision: bigint,
    signal: AbortSignal,
  ): Promise<TxnResponse> {
    return this.session.client
      .txn()
      .then(
        opGet(blockers, {
          prefix: true,
          sortTarget: "mod",
          sortOrder: "descend",
          limit: 1,
          maxModRevision: revision - 1n,
        }),
        opGet(key, { countOnly: true }),
      )
      .commit({ signal });
  }

  private async release(mode: Mode, options: RWMutexCallOptions): Promise<void> {
    if (this.state === "locking") {
      throw new ConcurrencyError(
        "invalid_argument",
        "unlocking while a lock call is waiting: abort its signal to leave the queue",
      );
    }
    if (this.state === "idle") return;
    if (this.held !== mode) {
      throw new ConcurrencyError(
        "invalid_argument",
        `${mode === "read" ? "rUnlock" : "unlock"}() on a ${this.held} lock: use ${this.held === "read" ? "rUnlock" : "unlock"}()`,
      );
    }
    await this.session.client.delete(this.myKey ?? "", options);
    this.reset();
  }

  /** Removes our key after a failed or aborted attempt; best effort, its lease bounds it anyway. */
  private async leaveQueue(): Promise<void> {
    const key = this.myKey;
    this.reset();
    if (key === undefined) return;
    try {
      // Only our own: a clashing name tried and lost belongs to someone else.
      await this.session.client
        .txn()
        .if(compare.lease(key, "=", this.session.lease))
        .then(opDelete(key))
        .commit();
    } catch {
      // The key carries the session's lease: it goes when the session does.
    }
  }

  private reset(): void {
    this.state = "idle";
    this.held = undefined;
    this.myKey = undefined;
    this.myRevision = undefined;
  }
}
