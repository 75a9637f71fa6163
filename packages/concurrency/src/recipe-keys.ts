import {
  type Bytes,
  bytesToText,
  compare,
  type EtcdApi,
  type KeyValue,
  opDelete,
  opPut,
} from "@etcd-connect/client";
import { ConcurrencyError } from "./concurrency-error.js";

/**
 * The key layouts of Go's `contrib/recipes` (key.go, client.go): unique keys named after the
 * clock, sequential keys with a bookkeeping key, and claims by mod revision. Go services using
 * those recipes and these functions read and write the same keys.
 */

/** A key this package created, and the revision of the txn that created it. */
export interface CreatedKey {
  key: string;
  revision: bigint;
}

/**
 * Attempts at a unique key before giving up. A clash needs two creators on one nanosecond and
 * the suffix moves on each attempt, so more than a couple means something else is wrong.
 */
export const maxUniqueKeyAttempts = 16;

/**
 * Attempts at the next sequence number of a priority queue. Each failed attempt means another
 * producer took a number meanwhile, so only a crowd of producers on one priority gets near it.
 */
export const maxSequentialAttempts = 1000;

/** Width of a sequence number, Go's `%016d`. */
const sequenceDigits = 16;

let lastSuffix = 0n;

/**
 * The time since the epoch in nanoseconds, in decimal: the `%v` of Go's `time.Now().UnixNano()`
 * the recipes name unique keys with. Strictly increasing within this process, so only another
 * process can clash, and the create-if-absent put catches that.
 */
function uniqueSuffix(): string {
  const now = BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
  lastSuffix = now > lastSuffix ? now : lastSuffix + 1n;
  return lastSuffix.toString();
}

/** Options of {@link putUniqueKey}. */
export interface PutUniqueKeyOptions {
  /** Attach the key to this lease; 0 is none. */
  lease: bigint;
  /** Cancels the put. */
  signal?: AbortSignal | undefined;
  /**
   * Told each key before its put is sent: a put cut off in flight may still be applied, and a
   * caller that gives up must delete the key, or a waiting recipe would wait behind it.
   */
  trying?: (key: string) => void;
}

/**
 * Creates `<dir><nanoseconds>` with `value`, only if the key is absent, as Go's `newUniqueKV`
 * and `newUniqueEphemeralKV` do: queue items, reader and writer keys of the RWMutex, double
 * barrier waiters. `dir` ends with "/".
 */
export async function putUniqueKey(
  client: EtcdApi,
  dir: string,
  value: Bytes,
  options: PutUniqueKeyOptions,
): Promise<CreatedKey> {
  const call = options.signal === undefined ? {} : { signal: options.signal };
  for (let attempt = 0; attempt < maxUniqueKeyAttempts; attempt++) {
    const key = `${dir}${uniqueSuffix()}`;
    options.trying?.(key);
    const res = await client
      .txn()
      .if(compare.version(key, "=", 0))
      .then(opPut(key, value, { lease: options.lease }))
      .commit(call);
    if (res.succeeded) return { key, revision: res.header?.revision ?? 0n };
  }
  throw new ConcurrencyError(
    "unexpected_key",
    `no unique key could be created under ${dir} in ${maxUniqueKeyAttempts} attempts: every name was taken`,
  );
}

/**
 * Creates the next key of the sequence `<prefix>/<16-digit number>` with `value`, as Go's
 * `newSequentialKV`: one more than the last key under `<prefix>/`, or 0. The bookkeeping key
 * `__<prefix>` is written in the same txn, which succeeds only if nobody wrote it since our
 * read: without it, a number freed by a delete could be handed out twice.
 */
export async function putSequentialKey(
  client: EtcdApi,
  prefix: string,
  value: Bytes,
  signal: AbortSignal | undefined,
): Promise<CreatedKey> {
  const call = signal === undefined ? {} : { signal };
  const bookkeeping = `__${prefix}`;
  for (let attempt = 0; attempt < maxSequentialAttempts; attempt++) {
    const last = await client.get(`${prefix}/`, {
      prefix: true,
      sortTarget: "key",
      sortOrder: "descend",
      limit: 1,
      ...call,
    });
    const lastKv = last.kvs[0];
    const next = lastKv === undefined ? 0n : sequenceNumber(lastKv) + 1n;
    const key = `${prefix}/${next.toString().padStart(sequenceDigits, "0")}`;
    const readAt = last.header?.revision ?? 0n;
    const res = await client
      .txn()
      .if(compare.modRevision(bookkeeping, "<", readAt + 1n))
      .then(opPut(bookkeeping, ""), opPut(key, value))
      .commit(call);
    if (res.succeeded) return { key, revision: res.header?.revision ?? 0n };
  }
  throw new ConcurrencyError(
    "retries_exhausted",
    `no sequence number under ${prefix}/ was free in ${maxSequentialAttempts} attempts: other producers took each one`,
  );
}

/** The number a sequential key ends with. */
function sequenceNumber(kv: KeyValue): bigint {
  const key = bytesToText(kv.key);
  const last = key.slice(key.lastIndexOf("/") + 1);
  if (!/^[0-9]{1,19}$/.test(last)) {
    throw new ConcurrencyError(
      "unexpected_key",
      `key ${JSON.stringify(key.slice(0, 200))} does not end with a sequence number`,
    );
  }
  return BigInt(last);
}

/**
 * Deletes `kv` only if nobody changed it since it was read (its mod revision), as Go's
 * `deleteRevKey`: of all consumers reading the same item, exactly one claims it. Resolves with
 * the revision of the delete, or undefined when someone else was first.
 *
 * Never aborted: a claim cut off in flight may have deleted the item without telling us, and
 * the item would be lost. It is one short round trip.
 */
export async function claimKey(client: EtcdApi, kv: KeyValue): Promise<bigint | undefined> {
  const res = await client
    .txn()
    .if(compare.modRevision(kv.key, "=", kv.modRevision))
    .then(opDelete(kv.key))
    .commit();
  return res.succeeded ? (res.header?.revision ?? 0n) : undefined;
}
