import {
  type Bytes,
  bytesToText,
  compare,
  type Int64Like,
  opDelete,
  opGet,
  opPut,
  type ResponseHeader,
  toBytes,
} from "@etcd-connect/client";
import { ConcurrencyError, canceled, invalidArgument } from "./concurrency-error.js";
import { type Leader, type ObserveOptions, observeLeaders, readLeader } from "./election-observe.js";
import { bytesEqual, firstKvAt, operationSignal, recipePrefix, sessionKey } from "./keys.js";
import { assertLive, type Session, sessionOver } from "./session.js";
import { waitDeletes } from "./wait-deletes.js";

/** Options of the election calls. */
export interface ElectionCallOptions {
  /** Gives up: a waiting `campaign()` withdraws the candidacy and rejects with `canceled`. */
  signal?: AbortSignal;
}

/**
 * Leader election, as Go's `concurrency.Election` and with its key layout, so Go services and
 * `etcdctl elect` take part in the same elections. Each candidate puts
 * `<name>/<lease id in hex>` (its value) under its session's lease; the key with the lowest
 * create revision leads; the others wait in line, each watching the key right before its own.
 *
 * @example
 * const election = createElection(session, "elections/scheduler");
 * await election.campaign("node-1"); // resolves once we lead
 * void session.done.then(() => stopLeading()); // before anyone else can lead
 * await election.proclaim("node-1 (draining)");
 * await election.resign();
 */
export interface Election {
  /** The session candidacy and leadership stand on. */
  readonly session: Session;
  /** The key prefix: the name and a "/". */
  readonly prefix: string;
  /** Our candidate key while campaigning or leading; undefined otherwise. */
  readonly key: string | undefined;
  /** Create revision of our key while leading. */
  readonly revision: bigint | undefined;
  /** Header of the last successful campaign or proclamation. */
  readonly header: ResponseHeader | undefined;
  /**
   * Stands for election with `value` and resolves once we lead. Rejects with `canceled`
   * (signal), `session_expired`/`session_closed`, or an `EtcdError`; our candidacy is
   * withdrawn before the rejection. Campaigning again while leading just proclaims `value`.
   */
  campaign(value: Bytes, options?: ElectionCallOptions): Promise<void>;
  /** Changes the leader's value; rejects with `not_leader` unless we still lead on the server. */
  proclaim(value: Bytes, options?: ElectionCallOptions): Promise<void>;
  /** Steps down (deletes our key if it is still ours), letting the next candidate lead. */
  resign(options?: ElectionCallOptions): Promise<void>;
  /** The current leader, or undefined when nobody leads. */
  leader(options?: ElectionCallOptions): Promise<Leader | undefined>;
  /** The leader each time it changes; see {@link observeElection}. */
  observe(options?: ObserveOptions): AsyncIterable<Leader>;
  /** True while we lead and the session is not over. */
  isLeader(): boolean;
}

/**
 * An election named `name` on a session. The key prefix is `name + "/"`, as Go's
 * `NewElection`.
 */
export function createElection(session: Session, name: string): Election {
  return new ElectionImpl(session, recipePrefix(name));
}

/**
 * An election already won, taken over from its key and revision, as Go's `ResumeElection`: a
 * process restarted while leading goes on leading without campaigning again. Adopt the lease
 * first (`createSession(client, { lease })`), then pass the key and create revision the
 * campaign won with (`election.key`, `election.revision`, or a {@link Leader}'s `key` and
 * `createRevision`). No request is made: like Go's, the election trusts them, and
 * `proclaim()` rejects with `not_leader` (and `resign()` deletes nothing) if the key is gone
 * or was created again since. To wait for leadership instead, campaign with
 * `createElection(session, name)` on the adopted lease: the key keeps its place in line.
 *
 * Unlike Go's, which keeps the prefix as given, the prefix is `name + "/"` as with
 * {@link createElection}, and `leaderKey` must be this session's key under it
 * (`<name>/<lease id in hex>`): anything else is refused with `invalid_argument`.
 *
 * @example
 * const session = await createSession(client, { lease: savedLease });
 * const election = resumeElection(session, "elections/scheduler", savedKey, savedRevision);
 * await election.proclaim("node-1 (restarted)");
 */
export function resumeElection(
  session: Session,
  name: string,
  leaderKey: Bytes,
  leaderRevision: Int64Like,
): Election {
  const prefix = recipePrefix(name);
  let key: string;
  if (typeof leaderKey === "string") key = leaderKey;
  else if (leaderKey instanceof Uint8Array) key = bytesToText(leaderKey);
  else throw invalidArgument(`leaderKey must be a string or Uint8Array, got ${typeof leaderKey}`);
  const expected = sessionKey(prefix, session.lease);
  if (key !== expected) {
    throw invalidArgument(
      `leaderKey ${JSON.stringify(key.slice(0, 200))} is not this session's key in ${prefix} (${expected}): adopt the lease that won with createSession(client, { lease })`,
    );
  }
  const revision =
    typeof leaderRevision === "bigint"
      ? leaderRevision
      : Number.isSafeInteger(leaderRevision)
        ? BigInt(leaderRevision)
        : undefined;
  if (revision === undefined || revision < 1n) {
    throw invalidArgument(`leaderRevision must be a positive integer, got ${String(leaderRevision)}`);
  }
  return new ElectionImpl(session, prefix, { key, revision });
}

class ElectionImpl implements Election {
  readonly session: Session;
  readonly prefix: string;
  private state: "idle" | "campaigning" | "leading" = "idle";
  private myKey: string | undefined;
  private myRevision: bigint | undefined;
  private lastHeader: ResponseHeader | undefined;

  constructor(session: Session, prefix: string, won?: { key: string; revision: bigint }) {
    this.session = session;
    this.prefix = prefix;
    if (won !== undefined) {
      this.state = "leading";
      this.myKey = won.key;
      this.myRevision = won.revision;
    }
  }

  get key(): string | undefined {
    return this.myKey;
  }

  get revision(): bigint | undefined {
    return this.state === "leading" ? this.myRevision : undefined;
  }

  get header(): ResponseHeader | undefined {
    return this.lastHeader;
  }

  isLeader(): boolean {
    return this.state === "leading" && !this.session.isDone;
  }

  async campaign(value: Bytes, options: ElectionCallOptions = {}): Promise<void> {
    if (this.state === "campaigning") {
      throw new ConcurrencyError("already_campaigning", `a campaign on ${this.prefix} is already running`);
    }
    assertLive(this.session);
    if (this.state === "leading") return this.proclaim(value, options);
    this.state = "campaigning";
    const { client, lease } = this.session;
    const { signal, dispose } = operationSignal(this.session.signal, options.signal);
    const key = sessionKey(this.prefix, lease);
    const bytes = toBytes(value);
    try {
      this.myKey = key;
      const res = await client
        .txn()
        .if(compare.createRevision(key, "=", 0))
        .then(opPut(key, bytes, { lease }))
        .else(opGet(key))
        .commit({ signal });
      this.lastHeader = res.header;
      if (res.succeeded) {
        this.myRevision = res.header?.revision ?? 0n;
      } else {
        // The session already stands (a restart with the same lease): keep its place in line.
        const mine = firstKvAt(res, 0);
        this.myRevision = mine?.createRevision ?? 0n;
        if (mine === undefined || !bytesEqual(mine.value, bytes)) await this.put(bytes, signal);
      }
      await waitDeletes(client, this.prefix, this.myRevision - 1n, signal);
      // Nobody is ahead; our key must still be there (the lease may have expired meanwhile).
      const check = await client.get(key, { signal });
      if (check.kvs[0]?.createRevision !== this.myRevision) {
        throw sessionOver(
          this.session,
          "our candidate key is gone: the session's lease expired or was revoked",
        );
      }
      this.state = "leading";
    } catch (error) {
      await this.withdraw();
      if (ConcurrencyError.is(error)) throw error;
      if (this.session.isDone) throw sessionOver(this.session, this.session.signal.reason);
      if (options.signal?.aborted) throw canceled(options.signal, `campaign on ${this.prefix}`);
      throw error;
    } finally {
      dispose();
    }
  }

  async proclaim(value: Bytes, options: ElectionCallOptions = {}): Promise<void> {
    if (this.state !== "leading" || this.session.isDone) {
      throw new ConcurrencyError("not_leader", `not the leader of ${this.prefix}`);
    }
    await this.put(toBytes(value), options.signal);
  }

  /** Writes our value, only while our key is the one that joined the election. */
  private async put(value: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    const key = this.myKey ?? "";
    const res = await this.session.client
      .txn()
      .if(compare.createRevision(key, "=", this.myRevision ?? 0n))
      .then(opPut(key, value, { lease: this.session.lease }))
      .commit(signal === undefined ? {} : { signal });
    if (!res.succeeded) {
      this.reset();
      throw new ConcurrencyError("not_leader", `not the leader of ${this.prefix}: our key is gone`);
    }
    this.lastHeader = res.header;
  }

  async resign(options: ElectionCallOptions = {}): Promise<void> {
    if (this.state === "campaigning") {
      throw new ConcurrencyError(
        "invalid_argument",
        "resign() while campaign() is waiting: abort the campaign's signal to withdraw",
      );
    }
    if (this.state === "idle") return;
    const key = this.myKey ?? "";
    const revision = this.myRevision ?? 0n;
    this.reset();
    const res = await this.session.client
      .txn()
      .if(compare.createRevision(key, "=", revision))
      .then(opDelete(key))
      .commit(options);
    this.lastHeader = res.header;
  }

  leader(options: ElectionCallOptions = {}): Promise<Leader | undefined> {
    return readLeader(this.session.client, this.prefix, options.signal);
  }

  observe(options: ObserveOptions = {}): AsyncIterable<Leader> {
    const { client } = this.session;
    return { [Symbol.asyncIterator]: () => observeLeaders(client, this.prefix, options.signal) };
  }

  /** Removes our candidacy after a failed campaign; best effort, its lease bounds it anyway. */
  private async withdraw(): Promise<void> {
    const key = this.myKey;
    const revision = this.myRevision;
    this.reset();
    if (key === undefined) return;
    try {
      // Without a revision the put's outcome is unknown; the key is ours either way.
      if (revision === undefined) await this.session.client.delete(key);
      else
        await this.session.client
          .txn()
          .if(compare.createRevision(key, "=", revision))
          .then(opDelete(key))
          .commit();
    } catch {
      // The key carries the session's lease: it goes when the session does.
    }
  }

  private reset(): void {
    this.state = "idle";
    this.myKey = undefined;
    this.myRevision = undefined;
  }
}
