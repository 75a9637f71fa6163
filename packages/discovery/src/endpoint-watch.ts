import {
  bytesToText,
  type ClientLogger,
  type EtcdApi,
  EtcdError,
  type Event,
  EventType,
} from "@etcd-connect/client";
import type { Endpoint, EndpointUpdate } from "./endpoint.js";
import { byUtf8 } from "./key-order.js";
import { readEndpoints, type StoredEndpoint, storedEndpoint } from "./read-endpoints.js";

/**
 * Every endpoint of a target at one revision, as {@link EndpointManager.watch} delivers it
 * after each change.
 */
export interface EndpointSnapshot {
  /** The endpoints, by full key (`<target>/<name>`), in key order. */
  readonly endpoints: ReadonlyMap<string, Endpoint>;
  /**
   * The etcd revision the set is as of: a read at this revision (`get(prefix, { revision })`)
   * finds exactly these endpoints.
   */
  readonly revision: bigint;
  /**
   * What changed since the previous snapshot, one entry per key in key order (Go's updates):
   * `add` for a new or changed endpoint, `delete` for one gone. The first snapshot lists every
   * endpoint as an `add`.
   */
  readonly updates: readonly EndpointUpdate[];
}

/** Options of {@link EndpointManager.watch}. */
export interface WatchEndpointsOptions {
  /** Ends the iteration (quietly) and cancels the watch. */
  signal?: AbortSignal;
}

// A watch compacted past its start revision is followed by a fresh read and a new watch. That
// this happens again before the new watch delivered anything means the history is compacted
// faster than one read and one watch can start; giving up then says so instead of spinning.
const maxResyncsInARow = 3;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** The update that takes a key from `before` to `after`, or undefined when nothing changed. */
function updateOf(key: string, before: StoredEndpoint | undefined, after: StoredEndpoint | undefined) {
  if (after === undefined) return before === undefined ? undefined : ({ op: "delete", key } as const);
  if (before !== undefined && sameBytes(before.value, after.value)) return undefined;
  return { op: "add", key, endpoint: after.endpoint } as const;
}

function snapshotOf(
  entries: ReadonlyMap<string, StoredEndpoint>,
  revision: bigint,
  updates: EndpointUpdate[],
): EndpointSnapshot {
  const keys = [...entries.keys()].sort(byUtf8);
  // A fresh map each time: a consumer may keep a snapshot while the set moves on.
  const endpoints = new Map(keys.map((key) => [key, (entries.get(key) as StoredEndpoint).endpoint]));
  return Object.freeze({
    endpoints,
    revision,
    updates: Object.freeze(updates.sort((a, b) => byUtf8(a.key, b.key))),
  });
}

// A function, so TypeScript does not narrow `signal.aborted` across awaits.
function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

/** Applies a batch of events to `entries`; returns the updates, empty when the set is unchanged. */
function applyEvents(
  entries: Map<string, StoredEndpoint>,
  events: readonly Event[],
  target: string,
  logger: ClientLogger | undefined,
): EndpointUpdate[] {
  const before = new Map<string, StoredEndpoint | undefined>();
  for (const event of events) {
    const kv = event.kv;
    if (kv === undefined) continue;
    const key = bytesToText(kv.key);
    if (!before.has(key)) before.set(key, entries.get(key));
    // A value Go would skip leaves the key out of the set, as a fresh read would.
    const stored = event.type === EventType.PUT ? storedEndpoint(kv, target, logger) : undefined;
    if (stored === undefined) entries.delete(key);
    else entries.set(key, stored);
  }
  const updates: EndpointUpdate[] = [];
  for (const [key, was] of before) {
    const update = updateOf(key, was, entries.get(key));
    if (update !== undefined) updates.push(update);
  }
  return updates;
}

/**
 * Follows the endpoints under `prefix`: a consistent read, then a watch from the next
 * revision, yielding the whole set after each change. The client's watch resumes from its last
 * revision on another member when its member fails, so no change is missed; a watch compacted
 * past its revision is replaced by a fresh read (which may skip sets that no longer exist,
 * never the current one) and a new watch.
 */
export async function* followEndpoints(
  client: EtcdApi,
  prefix: string,
  target: string,
  logger: ClientLogger | undefined,
  signal: AbortSignal | undefined,
): AsyncGenerator<EndpointSnapshot, void, undefined> {
  const call = signal === undefined ? {} : { signal };
  let entries: Map<string, StoredEndpoint> | undefined;
  let resyncs = 0;
  while (!aborted(signal)) {
    let revision: bigint;
    try {
      const read = await readEndpoints(client, prefix, target, logger, call);
      revision = read.revision;
      const previous = entries;
      entries = read.entries;
      if (previous === undefined) {
        const updates = [...read.entries].map(([key, stored]) => updateOf(key, undefined, stored));
        yield snapshotOf(entries, revision, updates as EndpointUpdate[]);
      } else {
        const updates: EndpointUpdate[] = [];
        for (const key of new Set([...previous.keys(), ...entries.keys()])) {
          const update = updateOf(key, previous.get(key), entries.get(key));
          if (update !== undefined) updates.push(update);
        }
        if (updates.length > 0) yield snapshotOf(entries, revision, updates);
      }
    } catch (error) {
      if (aborted(signal)) return;
      throw error;
    }
    // The caller's signal as it is: the client's watch holds one listener per signal and lets
    // go of it when the watch ends.
    const watcher = client.watch(prefix, {
      prefix: true,
      startRevision: revision + 1n,
      ...(signal === undefined ? {} : { signal }),
    });
    try {
      for await (const batch of watcher) {
        resyncs = 0;
        const last = batch.events[batch.events.length - 1];
        if (last === undefined) continue;
        const updates = applyEvents(entries, batch.events, target, logger);
        // The events of one revision come in one batch, so the set is whole at the last one.
        if (updates.length > 0) yield snapshotOf(entries, last.kv?.modRevision ?? batch.revision, updates);
      }
      // The watch ends cleanly only when closed: the caller's signal, or the client closing.
      return;
    } catch (error) {
      if (aborted(signal)) return;
      if (!EtcdError.is(error, "compacted") || ++resyncs > maxResyncsInARow) throw error;
    } finally {
      await watcher.close();
    }
  }
}
