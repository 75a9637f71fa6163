import { bytesToText, compare, EventType, type KeyValue, opDelete } from "@etcd-connect/client";
import { ConcurrencyError, canceled, invalidArgument } from "./concurrency-error.js";
import { operationSignal, recipePrefix } from "./keys.js";
import { putUniqueKey } from "./recipe-keys.js";
import { assertLive, type Session, sessionOver } from "./session.js";
import { waitEvent } from "./wait-event.js";

/** Options of the double barrier calls. */
export interface DoubleBarrierCallOptions {
  /** Gives up the wait: `enter()` removes our key first, then rejects with `canceled`. */
  signal?: AbortSignal;
}

/**
 * A double barrier, as Go's `recipe.DoubleBarrier` and with its key layout: `enter()` waits
 * until `count` participants have entered, `leave()` until all of them have left. Each
 * participant puts `<name>/waiters/<ns>` under its session's lease; the one that completes the
 * count puts `<name>/ready` (no lease), which lets everyone in.
 *
 * Keys on leases make it survive crashes: a participant whose process dies inside the barrier
 * is counted out once its lease expires, and the others leave.
 *
 * @example
 * const round = createDoubleBarrier(session, "barriers/round-1", 3);
 * await round.enter(); // returns once 3 participants entered
 * // ... the work all three do together ...
 * await round.leave(); // returns once all 3 left
 */
export interface DoubleBarrier {
  /** The session the participant's key lives on. */
  readonly session: Session;
  /** The key prefix: the name and a "/". */
  readonly prefix: string;
  /** How many participants `enter()` waits for. */
  readonly count: number;
  /** Our waiter key while entering, inside or leaving; undefined otherwise. */
  readonly key: string | undefined;
  /**
   * Joins and waits until `count` participants have joined. Rejects with `barrier_full` when
   * more have (the `count + 1`-th and later), with `canceled`, `session_expired` /
   * `session_closed` or an `EtcdError`; in every case our key is removed first.
   */
  enter(options?: DoubleBarrierCallOptions): Promise<void>;
  /**
   * Leaves and waits until every participant has left (or its lease expired). Throws
   * `invalid_argument` unless `enter()` succeeded before. An aborted `leave()` may be called
   * again.
   */
  leave(options?: DoubleBarrierCallOptions): Promise<void>;
}

/**
 * A double barrier named `name` for `count` participants, as Go's
 * `recipe.NewDoubleBarrier(session, name, count)`.
 *
 * @example
 * const round = createDoubleBarrier(session, "barriers/round-1", 3);
 */
export function createDoubleBarrier(session: Session, name: string, count: number): DoubleBarrier {
  const prefix = recipePrefix(name);
  if (!Number.isSafeInteger(count) || count < 1) {
    throw invalidArgument(`the participant count must be an integer >= 1, got ${String(count)}`);
  }
  return new DoubleBarrierImpl(session, prefix, count);
}

class DoubleBarrierImpl implements DoubleBarrier {
  readonly session: Session;
  readonly prefix: string;
  readonly count: number;
  private state: "idle" | "entering" | "inside" | "leaving" = "idle";
  private myKey: string | undefined;

  constructor(session: Session, prefix: string, count: number) {
    this.session = session;
    this.prefix = prefix;
    this.count = count;
  }

  get key(): string | undefined {
    return this.myKey;
  }

  private get waiters(): string {
    return `${this.prefix}waiters/`;
  }

  private get ready(): string {
    return `${this.prefix}ready`;
  }

  async enter(options: DoubleBarrierCallOptions = {}): Promise<void> {
    if (this.state !== "idle") {
      throw new ConcurrencyError("invalid_argument", `enter() on ${this.prefix} while ${this.state}`);
    }
    assertLive(this.session);
    this.state = "entering";
    const { client, lease } = this.session;
    const { signal, dispose } = operationSignal(this.session.signal, options.signal);
    try {
      const mine = await putUniqueKey(client, this.waiters, "", {
        lease,
        signal,
        trying: (key) => {
          this.myKey = key;
        },
      });
      const joined = await client.get(this.waiters, { prefix: true, countOnly: true, signal });
      if (joined.count > BigInt(this.count)) {
        throw new ConcurrencyError(
          "barrier_full",
          `double barrier ${this.prefix} is full: ${joined.count} participants for ${this.count}`,
        );
      }
      if (joined.count === BigInt(this.count)) {
        await client.put(this.ready, "", { signal });
      } else {
        await this.waitReady(mine.revision, signal);
      }
      this.state = "inside";
    } catch (error) {
      await this.withdraw();
      if (ConcurrencyError.is(error)) throw error;
      if (this.session.isDone) throw sessionOver(this.session, this.session.signal.reason);
      if (options.signal?.aborted) throw canceled(options.signal, `enter() on ${this.prefix}`);
      throw error;
    } finally {
      dispose();
    }
  }

  /** Waits for a put of the ready key after our key's revision, then checks our key survived. */
  private async waitReady(after: bigint, signal: AbortSignal): Promise<void> {
    const { client } = this.session;
    let from = after + 1n;
    for (;;) {
      const put = await waitEvent(client, this.ready, { startRevision: from, type: EventType.PUT }, signal);
      if (put !== undefined) break;
      // History compacted: a ready key written after ours still says everyone is in.
      const ready = await client.get(this.ready, { signal });
      if ((ready.kvs[0]?.modRevision ?? 0n) > after) break;
      from = (ready.header?.revision ?? 0n) + 1n;
    }
    // Counted without us if our lease ran out while we waited: we are not in.
    const mine = await client.get(this.myKey ?? "", { countOnly: true, signal });
    if (mine.count !== 1n) {
      throw sessionOver(this.session, "our waiter key is gone: the session's lease expired or was revoked");
    }
  }

  async leave(options: DoubleBarrierCallOptions = {}): Promise<void> {
    if (this.state !== "inside") {
      throw new ConcurrencyError(
        "invalid_argument",
        `leave() on ${this.prefix} ${this.state === "idle" ? "before enter()" : `while ${this.state}`}`,
      );
    }
    this.state = "leaving";
    const { signal, dispose } = operationSignal(this.session.signal, options.signal);
    try {
      await this.leaveRounds(signal);
      this.state = "idle";
      this.myKey = undefined;
    } catch (error) {
      this.state = "inside";
      if (ConcurrencyError.is(error)) throw error;
      if (this.session.isDone) throw sessionOver(this.session, this.session.signal.reason);
      if (options.signal?.aborted) throw canceled(options.signal, `leave() on ${this.prefix}`);
      throw error;
    } finally {
      dispose();
    }
  }

  /**
   * Go's leave protocol, by mod revision: the oldest participant stays until all others are
   * gone, then deletes the ready key and itself; every other participant deletes itself and
   * waits for the oldest to go. So each `leave()` returns only once nobody is left inside, and
   * a participant that died is counted out when its lease expires.
   */
  private async leaveRounds(signal: AbortSignal): Promise<void> {
    const { client } = this.session;
    const mine = this.myKey ?? "";
    for (;;) {
      const res = await client.get(this.waiters, { prefix: true, keysOnly: true, signal });
      if (res.kvs.length === 0) return;
      const [only] = res.kvs;
      if (res.kvs.length === 1 && only !== undefined && bytesToText(only.key) === mine) {
        await client.txn().then(opDelete(this.ready), opDelete(mine)).commit({ signal });
        return;
      }
      const lowest = byModRevision(res.kvs, (a, b) => a < b);
      const highest = byModRevision(res.kvs, (a, b) => a > b);
      let awaited: KeyValue;
      if (bytesToText(lowest.key) === mine) {
        awaited = highest;
      } else {
        // Our key may be gone already (an earlier round, or our lease): deleting is idempotent.
        await client
          .txn()
          .if(compare.lease(mine, "=", this.session.lease))
          .then(opDelete(mine))
          .commit({ signal });
        awaited = lowest;
      }
      // Undefined (history compacted) also loops: the next read tells the truth.
      await waitEvent(
        client,
        awaited.key,
        { startRevision: (res.header?.revision ?? 0n) + 1n, type: EventType.DELETE },
        signal,
      );
    }
  }

  /** Removes our key after a failed or aborted enter(); best effort, its lease bounds it anyway. */
  private async withdraw(): Promise<void> {
    const key = this.myKey;
    this.state = "idle";
    this.myKey = undefined;
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
}

/** The key-value that `wins` over every other by mod revision. */
function byModRevision(kvs: KeyValue[], wins: (a: bigint, b: bigint) => boolean): KeyValue {
  let best = kvs[0] as KeyValue;
  for (const kv of kvs) if (wins(kv.modRevision, best.modRevision)) best = kv;
  return best;
}
