import {
  type Bytes,
  bytesToJson,
  bytesToText,
  type Compare,
  compare,
  EtcdError,
  type GetOptions,
  type Int64Like,
  type KeyValue,
  type KV,
  opDelete,
  opGet,
  opPut,
  type RequestOp,
  type TxnResponse,
  toBytes,
} from "@etcd-connect/client";
import { ConcurrencyError, canceled } from "./concurrency-error.js";
import { rangeAt } from "./keys.js";

/**
 * How transactions of {@link runSTM} may interfere, as Go's `concurrency` isolation levels:
 *
 * - `"serializable-snapshot"` (default): every read sees the revision of the first read, and
 *   the commit fails if a key read changed or a key written was changed by anyone after that
 *   revision. Serializable, and no lost updates on keys written without being read.
 * - `"serializable"`: reads at the revision of the first read; the commit fails if a key read
 *   changed.
 * - `"repeatable-reads"`: each key is read once (from the member's local state) and the same
 *   value is returned for the rest of the attempt; the commit fails if a key read changed.
 * - `"read-committed"`: reads from any committed revision; the commit checks nothing.
 */
export type Isolation = "serializable-snapshot" | "serializable" | "repeatable-reads" | "read-committed";

/** Options of {@link runSTM}. */
export interface STMOptions {
  /** Default: `"serializable-snapshot"`. */
  isolation?: Isolation;
  /**
   * Keys to read in one round trip at the start of every attempt, before `fn` runs (Go's
   * `WithPrefetch`): worth it for keys `fn` always reads. Default: none.
   */
  prefetch?: Bytes[];
  /** Re-runs of `fn` after conflicting commits, at most. Default: 100. */
  retries?: number;
  /** Aborts the transaction: between attempts and during its calls. */
  signal?: AbortSignal;
}

/**
 * The transaction handle `fn` gets: reads go to etcd (once per key and attempt) and are
 * recorded in the read set; writes are buffered in the write set and sent in the commit.
 */
export interface STM {
  /** The value of a key (our own buffered write if there is one), or undefined if absent. */
  get(key: Bytes): Promise<Uint8Array | undefined>;
  /** {@link STM.get} as UTF-8 text. */
  getText(key: Bytes): Promise<string | undefined>;
  /** {@link STM.get} parsed as JSON. */
  getJson<T = unknown>(key: Bytes): Promise<T | undefined>;
  /** The mod revision of a key as read (reads it if needed); 0 when absent. */
  rev(key: Bytes): Promise<bigint>;
  /** Buffers a put, sent with the commit. */
  put(key: Bytes, value: Bytes, options?: { lease?: Int64Like }): void;
  /** Buffers a delete, sent with the commit. */
  delete(key: Bytes): void;
  /** Which attempt this is, from 1. */
  readonly attempt: number;
}

/** What {@link runSTM} resolves with. */
export interface STMResult<T> {
  /** What `fn` returned in the attempt that committed. */
  result: T;
  /** The commit's txn response; `response.header.revision` is the commit's revision. */
  response: TxnResponse;
  /** Attempts it took (1 when the first commit succeeded). */
  attempts: number;
}

const isolations = new Set<Isolation>([
  "serializable-snapshot",
  "serializable",
  "repeatable-reads",
  "read-committed",
]);
const defaultRetries = 100;

/**
 * Software transactional memory over etcd, as Go's `concurrency.NewSTM`: runs `fn`, then
 * commits its writes in one txn guarded by compares on what it read; on a conflict it runs
 * `fn` again on fresh reads, up to `retries` times (then rejects with `retries_exhausted`).
 * An error thrown by `fn` aborts the transaction: nothing is written. `fn` may run more than
 * once, so keep side effects out of it.
 *
 * @example
 * await runSTM(client, async (stm) => {
 *   const from = Number(await stm.getText("accounts/alice"));
 *   const to = Number(await stm.getText("accounts/bob"));
 *   stm.put("accounts/alice", String(from - 10));
 *   stm.put("accounts/bob", String(to + 10));
 * });
 */
export async function runSTM<T>(
  client: KV,
  fn: (stm: STM) => Promise<T> | T,
  options: STMOptions = {},
): Promise<STMResult<T>> {
  const isolation = options.isolation ?? "serializable-snapshot";
  if (!isolations.has(isolation)) {
    throw new ConcurrencyError("invalid_argument", `unknown isolation ${String(isolation)}`);
  }
  const retries = options.retries ?? defaultRetries;
  if (!Number.isSafeInteger(retries) || retries < 0) {
    throw new ConcurrencyError("invalid_argument", `retries must be an integer >= 0, got ${retries}`);
  }
  const prefetch = (options.prefetch ?? []).map(toBytes);
  const { signal } = options;
  let carried = new Map<string, ReadEntry>();
  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) throw canceled(signal, "runSTM");
    const stm = new Attempt(client, isolation, carried, signal, attempt);
    try {
      if (prefetch.length > 0) await stm.load(prefetch);
      const result = await fn(stm);
      const response = await stm.commit();
      if (response !== undefined) return { result, response, attempts: attempt };
    } catch (error) {
      if (signal?.aborted && !ConcurrencyError.is(error)) throw canceled(signal, "runSTM");
      throw error;
    } finally {
      stm.finished = true;
    }
    if (attempt > retries) {
      throw new ConcurrencyError(
        "retries_exhausted",
        `runSTM: ${attempt} attempts conflicted with other writers (retries: ${retries})`,
      );
    }
    carried = stm.carried;
  }
}

interface ReadEntry {
  readonly key: Uint8Array;
  readonly kv: KeyValue | undefined;
  /** The store revision the read saw. */
  readonly revision: bigint;
}

interface WriteEntry {
  readonly key: Uint8Array;
  readonly value: Uint8Array | undefined;
  readonly op: RequestOp;
}

/** A map key for bytes: latin1 maps each byte to one code unit, so distinct keys stay distinct. */
function idOf(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("latin1");
}

class Attempt implements STM {
  readonly attempt: number;
  finished = false;
  /** The read set as etcd answered the failed commit's else branch: the next attempt's reads. */
  carried = new Map<string, ReadEntry>();
  private readonly client: KV;
  private readonly isolation: Isolation;
  private readonly prefetched: Map<string, ReadEntry>;
  private readonly signal: AbortSignal | undefined;
  private readonly reads = new Map<string, ReadEntry>();
  private readonly loading = new Map<string, Promise<unknown>>();
  private readonly writes = new Map<string, WriteEntry>();
  /** Serializable levels: the revision of the first read, which every later read uses. */
  private base: Promise<bigint> | undefined;
  private failure: { error: unknown } | undefined;

  constructor(
    client: KV,
    isolation: Isolation,
    prefetched: Map<string, ReadEntry>,
    signal: AbortSignal | undefined,
    attempt: number,
  ) {
    this.client = client;
    this.isolation = isolation;
    this.prefetched = prefetched;
    this.signal = signal;
    this.attempt = attempt;
  }

  private get snapshot(): boolean {
    return this.isolation === "serializable-snapshot" || this.isolation === "serializable";
  }

  async get(key: Bytes): Promise<Uint8Array | undefined> {
    this.checkOpen();
    const bytes = toBytes(key);
    const id = idOf(bytes);
    const written = this.writes.get(id);
    if (written !== undefined) return written.value;
    await this.load([bytes]);
    return this.reads.get(id)?.kv?.value;
  }

  async getText(key: Bytes): Promise<string | undefined> {
    const value = await this.get(key);
    return value === undefined ? undefined : bytesToText(value);
  }

  async getJson<T = unknown>(key: Bytes): Promise<T | undefined> {
    const value = await this.get(key);
    return value === undefined ? undefined : bytesToJson<T>(value);
  }

  async rev(key: Bytes): Promise<bigint> {
    this.checkOpen();
    const bytes = toBytes(key);
    await this.load([bytes]);
    return this.reads.get(idOf(bytes))?.kv?.modRevision ?? 0n;
  }

  put(key: Bytes, value: Bytes, options: { lease?: Int64Like } = {}): void {
    this.checkOpen();
    const k = toBytes(key);
    const v = toBytes(value);
    this.writes.set(idOf(k), { key: k, value: v, op: opPut(k, v, options) });
  }

  delete(key: Bytes): void {
    this.checkOpen();
    const k = toBytes(key);
    this.writes.set(idOf(k), { key: k, value: undefined, op: opDelete(k) });
  }

  /** Reads the keys not read yet in this attempt, in one round trip. */
  async load(keys: Uint8Array[]): Promise<void> {
    const waits: Promise<unknown>[] = [];
    const missing = new Map<string, Uint8Array>();
    for (const key of keys) {
      const id = idOf(key);
      if (this.reads.has(id) || missing.has(id)) continue;
      const inFlight = this.loading.get(id);
      if (inFlight !== undefined) {
        waits.push(inFlight);
        continue;
      }
      const carried = this.snapshot ? this.prefetched.get(id) : undefined;
      if (carried !== undefined) {
        this.prefetched.delete(id);
        this.reads.set(id, carried);
        this.base ??= Promise.resolve(carried.revision);
        continue;
      }
      missing.set(id, key);
    }
    if (missing.size > 0) {
      const fetching = this.fetch([...missing.values()]);
      for (const id of missing.keys()) this.loading.set(id, fetching);
      waits.push(fetching);
    }
    try {
      await Promise.all(waits);
    } catch (error) {
      // `fn` might swallow it; the commit must not go ahead on a partial read set.
      this.failure ??= { error };
      throw error;
    }
  }

  private async fetch(keys: Uint8Array[]): Promise<void> {
    let options: GetOptions;
    if (!this.snapshot) {
      // Go reads these levels from the member's local state; the commit's compares (or the
      // level's lack of them) decide what staleness means.
      options = { serializable: true };
    } else if (this.base === undefined) {
      // The first read fixes the attempt's revision: a linearizable read of the latest.
      const first = this.read(keys, {});
      this.base = first;
      await first;
      return;
    } else {
      options = { revision: await this.base, serializable: true };
    }
    try {
      await this.read(keys, options);
    } catch (error) {
      // A member behind the first read's revision: ask again with a quorum read at it.
      if (!EtcdError.is(error, "future_revision")) throw error;
      await this.read(keys, { ...options, serializable: false });
    }
  }

  private async read(keys: Uint8Array[], options: GetOptions): Promise<bigint> {
    const call = this.signal === undefined ? {} : { signal: this.signal };
    const [only] = keys;
    if (keys.length === 1 && only !== undefined) {
      const res = await this.client.get(only, { ...options, ...call });
      const revision = res.header?.revision ?? 0n;
      this.remember(only, res.kvs[0], revision);
      return revision;
    }
    const res = await this.client
      .txn()
      .then(...keys.map((key) => opGet(key, options)))
      .commit(call);
    const revision = res.header?.revision ?? 0n;
    keys.forEach((key, i) => {
      this.remember(key, rangeAt(res, i)?.kvs[0], revision);
    });
    return revision;
  }

  private remember(key: Uint8Array, kv: KeyValue | undefined, revision: bigint): void {
    const id = idOf(key);
    this.loading.delete(id);
    if (!this.reads.has(id)) this.reads.set(id, { key, kv, revision });
  }

  /** The compares that make the commit fail on a conflict, per isolation level. */
  private conflicts(): Compare[] {
    if (this.isolation === "read-committed") return [];
    const compares: Compare[] = [];
    let first: bigint | undefined;
    for (const { key, kv, revision } of this.reads.values()) {
      compares.push(compare.modRevision(key, "=", kv?.modRevision ?? 0n));
      if (first === undefined || revision < first) first = revision;
    }
    if (this.isolation === "serializable-snapshot" && first !== undefined) {
      // Keys written blind must not have changed since the snapshot either.
      for (const { key } of this.writes.values()) compares.push(compare.modRevision(key, "<", first + 1n));
    }
    return compares;
  }

  /** Sends the writes if nothing conflicted; undefined on a conflict. */
  async commit(): Promise<TxnResponse | undefined> {
    this.finished = true;
    if (this.failure !== undefined) throw this.failure.error;
    const reads = [...this.reads.values()];
    let txn = this.client
      .txn()
      .if(...this.conflicts())
      .then(...[...this.writes.values()].map((write) => write.op));
    // On a conflict, etcd answers with the read set's current state: the next attempt starts
    // from it without another round trip.
    if (this.snapshot) txn = txn.else(...reads.map(({ key }) => opGet(key)));
    const res = await txn.commit(this.signal === undefined ? {} : { signal: this.signal });
    if (res.succeeded) return res;
    if (this.snapshot) {
      const revision = res.header?.revision ?? 0n;
      reads.forEach(({ key }, i) => {
        this.carried.set(idOf(key), { key, kv: rangeAt(res, i)?.kvs[0], revision });
      });
    }
    return undefined;
  }

  private checkOpen(): void {
    if (this.finished) {
      throw new ConcurrencyError("stm_finished", `this STM attempt (${this.attempt}) has ended`);
    }
  }
}
