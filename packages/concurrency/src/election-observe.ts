import type { EtcdApi } from "@etcd-connect/client";
import { EtcdError, EventType, type KeyValue } from "@etcd-connect/client";
import { bytesEqual, firstCreated, operationSignal, recipePrefix } from "./keys.js";

/** The leader of an election: the candidate key with the lowest create revision. */
export interface Leader {
  /** The leader's key, `<name>/<lease id in hex>`. */
  key: Uint8Array;
  /** The value it campaigned with, or last proclaimed. */
  value: Uint8Array;
  /** Create revision of the key: when it joined the election. */
  createRevision: bigint;
  /** Revision of the value's last change. */
  modRevision: bigint;
  /** The lease of the leader's session. */
  lease: bigint;
}

/** Options of {@link observeElection}. */
export interface ObserveOptions {
  /** Ends the iteration (quietly) and cancels the watch. */
  signal?: AbortSignal;
}

function toLeader(kv: KeyValue): Leader {
  return {
    key: kv.key,
    value: kv.value,
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    lease: kv.lease,
  };
}

/**
 * The current leader of election `name`, or undefined when nobody leads. Needs no session:
 * any client can look, as `etcdctl elect -l` does.
 */
export async function electionLeader(
  client: EtcdApi,
  name: string,
  options: { signal?: AbortSignal } = {},
): Promise<Leader | undefined> {
  return readLeader(client, recipePrefix(name), options.signal);
}

/** The leader under `prefix` (a name with its "/"), or undefined. */
export async function readLeader(
  client: EtcdApi,
  prefix: string,
  signal: AbortSignal | undefined,
): Promise<Leader | undefined> {
  const res = await client.get(prefix, { ...firstCreated, ...(signal === undefined ? {} : { signal }) });
  const kv = res.kvs[0];
  return kv === undefined ? undefined : toLeader(kv);
}

/**
 * The leader of election `name` each time it changes: a new leader, or a new value
 * proclaimed. As Go's `Election.Observe`, it delivers the current leader first, then every
 * change; it may skip values that were replaced while it was re-reading, never the latest.
 * Leaving the loop or aborting the signal cancels the watch. Needs no session.
 *
 * @example
 * for await (const leader of observeElection(client, "elections/scheduler", { signal })) {
 *   console.log("leader is", new TextDecoder().decode(leader.value));
 * }
 */
export function observeElection(
  client: EtcdApi,
  name: string,
  options: ObserveOptions = {},
): AsyncIterable<Leader> {
  const prefix = recipePrefix(name);
  return { [Symbol.asyncIterator]: () => observeLeaders(client, prefix, options.signal) };
}

// A function, so TypeScript does not narrow `signal.aborted` across awaits.
function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

/** Follows the leader key of `prefix`: the current one, its value changes, its successors. */
export async function* observeLeaders(
  client: EtcdApi,
  prefix: string,
  signal: AbortSignal | undefined,
): AsyncGenerator<Leader, void, undefined> {
  const call = signal === undefined ? {} : { signal };
  let last: KeyValue | undefined;
  const isNew = (kv: KeyValue) =>
    last === undefined || last.modRevision !== kv.modRevision || !bytesEqual(last.key, kv.key);
  while (!aborted(signal)) {
    let leader: KeyValue | undefined;
    let from: bigint;
    try {
      const res = await client.get(prefix, { ...firstCreated, ...call });
      leader = res.kvs[0];
      from = (res.header?.revision ?? 0n) + 1n;
      if (leader === undefined) {
        leader = await firstPut(client, prefix, from, signal);
        if (leader === undefined) continue;
        from = leader.modRevision + 1n;
      }
    } catch (error) {
      if (aborted(signal)) return;
      throw error;
    }
    if (isNew(leader)) {
      last = leader;
      yield toLeader(leader);
    }
    // Follow this leader's key: its puts are proclamations, its delete ends its term.
    const scope = operationSignal(signal);
    const watcher = client.watch(leader.key, { startRevision: from, signal: scope.signal });
    try {
      let deleted = false;
      for await (const batch of watcher) {
        for (const event of batch.events) {
          if (event.type === EventType.DELETE) {
            deleted = true;
            break;
          }
          if (event.kv !== undefined && isNew(event.kv)) {
            last = event.kv;
            yield toLeader(event.kv);
          }
        }
        if (deleted) break;
      }
    } catch (error) {
      // Compacted past `from`: read the leader again.
      if (!EtcdError.is(error, "compacted") && !aborted(signal)) throw error;
    } finally {
      await watcher.close();
      scope.dispose();
    }
  }
}

/** The first key put under `prefix` from revision `from`: the leader of an empty election. */
async function firstPut(
  client: EtcdApi,
  prefix: string,
  from: bigint,
  signal: AbortSignal | undefined,
): Promise<KeyValue | undefined> {
  const scope = operationSignal(signal);
  const watcher = client.watch(prefix, {
    prefix: true,
    startRevision: from,
    noDelete: true,
    signal: scope.signal,
  });
  try {
    for await (const batch of watcher) {
      const put = batch.events.find((event) => event.kv !== undefined);
      if (put?.kv !== undefined) return put.kv;
    }
  } catch (error) {
    // Compacted past `from`: the caller reads the leader again.
    if (!EtcdError.is(error, "compacted")) throw error;
  } finally {
    await watcher.close();
    scope.dispose();
  }
  return undefined;
}
