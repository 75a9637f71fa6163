import { Code } from "@connectrpc/connect";
import { Event_EventType } from "@etcd-connect/api/mvccpb";
import { onAbort, serverText } from "@etcd-connect/transport";
import { type Bytes, toBytes } from "../bytes.js";
import { exponentialBackoff, sleep } from "../call/backoff.js";
import { EtcdError, type EtcdErrorReason, toEtcdError } from "../errors.js";
import type { WatchBatch, Watcher } from "../watch/watch.js";
import { binaryKey, keyBytes } from "./binary-key.js";
import { ChangeQueue } from "./change-queue.js";
import { listPages } from "./list-pages.js";
import type {
  Mirror,
  MirrorBatch,
  MirrorChange,
  MirrorChangesOptions,
  MirrorEntry,
  MirrorSource,
  MirrorStatus,
} from "./mirror.js";

/** {@link MirrorOptions} with every default filled in, and the prefix. */
export interface MirrorConfig<V> {
  readonly prefix: Bytes;
  readonly pageSize: number;
  readonly decode: (value: Uint8Array, key: Uint8Array) => V;
  readonly maxPendingChanges: number;
  readonly signal: AbortSignal | undefined;
}

// One key. Held in place and updated, so a write costs no new object; `listed` is the number of
// the last list that saw the key, so a resync finds the vanished keys without a second map.
interface Slot<V> {
  value: V;
  modRevision: bigint;
  listed: number;
}

// A key a list found new or rewritten, kept until the list is complete.
interface Listed<V> {
  readonly id: string;
  readonly value: V;
  readonly modRevision: bigint;
}

// Failures of a list that a later try can get past; the watch retries its own internally and
// ends only when it cannot go on (compacted, denied, closed).
const transient = new Set<EtcdErrorReason>([
  "unavailable",
  "deadline_exceeded",
  "canceled",
  "no_leader",
  "not_leader",
  "leader_changed",
  "stopped",
  "timeout",
  "timeout_due_to_leader_fail",
  "timeout_due_to_connection_lost",
  "timeout_wait_applied_index",
  "too_many_requests",
  "unhealthy_cluster",
  "no_endpoints",
  // The list's revision was compacted between two pages: a new list starts at a new revision.
  "compacted",
]);

/**
 * A {@link Mirror}: lists the prefix, follows a watch from the revision after, lists again when
 * the watch's history is gone. One loop (`run`) does these in turn, so a list and the watch
 * never change the map at the same time.
 */
export class MirrorImpl<V> implements Mirror<V> {
  readonly ready: Promise<void>;
  private readonly source: MirrorSource;
  private readonly config: MirrorConfig<V>;
  private readonly store = new Map<string, Slot<V>>();
  private readonly readers = new Set<ChangeQueue<V>>();
  private readonly abort = new AbortController();
  private readonly done: Promise<void>;
  private current: MirrorStatus = { state: "listing", since: Date.now(), revision: 0n, error: undefined };
  private statusWaiters: Array<(status: MirrorStatus) => void> | undefined;
  private mirrored = 0n;
  private listings = 0;
  // Lists and resyncs in a row that did not end with a confirmed watch: each waits longer.
  private failures = 0;
  private watcher: Watcher | undefined;
  private settleReady: ((error?: unknown) => void) | undefined;
  private detach: (() => void) | undefined;

  constructor(source: MirrorSource, config: MirrorConfig<V>) {
    this.source = source;
    this.config = config;
    this.ready = new Promise<void>((resolve, reject) => {
      this.settleReady = (error) => (error === undefined ? resolve() : reject(error));
    });
    // Nobody may await it; a mirror closed early must not become an unhandled rejection.
    this.ready.catch(() => {});
    const signal = config.signal;
    if (signal?.aborted) {
      this.finish();
      this.done = Promise.resolve();
      return;
    }
    if (signal !== undefined) this.detach = onAbort(signal, () => this.finish());
    this.done = this.run();
  }

  get revision(): bigint {
    return this.mirrored;
  }

  get size(): number {
    return this.store.size;
  }

  get status(): MirrorStatus {
    return this.current.revision === this.mirrored
      ? this.current
      : { ...this.current, revision: this.mirrored };
  }

  statusChanged(): Promise<MirrorStatus> {
    if (this.current.state === "closed") return Promise.resolve(this.status);
    return new Promise((resolve) => {
      this.statusWaiters ??= [];
      this.statusWaiters.push(resolve);
    });
  }

  get(key: Bytes): MirrorEntry<V> | undefined {
    const bytes = toBytes(key);
    const slot = this.store.get(binaryKey(bytes));
    return slot === undefined ? undefined : { key: bytes, value: slot.value, modRevision: slot.modRevision };
  }

  *entries(): IterableIterator<MirrorEntry<V>> {
    for (const [id, slot] of this.store) {
      yield { key: keyBytes(id), value: slot.value, modRevision: slot.modRevision };
    }
  }

  changes(options: MirrorChangesOptions = {}): AsyncIterableIterator<MirrorBatch<V>> {
    const queue = new ChangeQueue<V>(
      this.config.maxPendingChanges,
      (ended) => this.readers.delete(ended),
      options.signal,
    );
    if (this.current.state === "closed") queue.end(this.current.error);
    else if (!queue.isEnded) this.readers.add(queue);
    return queue;
  }

  async close(): Promise<void> {
    this.finish();
    await this.done;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private async run(): Promise<void> {
    let listed = false;
    while (!this.abort.signal.aborted) {
      try {
        if (this.failures > 0) {
          await sleep(exponentialBackoff(this.failures - 1, 100, 5_000), this.abort.signal);
        }
        this.setState(listed ? "resyncing" : "listing");
        await this.list(listed ? "resync" : "initial");
        if (!listed) {
          listed = true;
          this.settleReady?.();
          this.settleReady = undefined;
        }
        if ((await this.follow()) === "ended") break;
        // The history the watch needed is gone: list again, after a pause if it keeps happening.
        this.failures++;
      } catch (error) {
        if (this.abort.signal.aborted) break;
        const failure = toEtcdError(error);
        if (failure.reason === "closed") {
          // The client was closed under the mirror: an end, as for its watches, not a failure.
          this.finish(undefined, failure);
          return;
        }
        if (!transient.has(failure.reason)) {
          this.finish(failure);
          return;
        }
        this.failures++;
      }
    }
    this.finish();
  }

  // Reads the prefix at one revision and applies what differs from the map in one go, so the
  // map never mixes two revisions. The keys found new or rewritten wait in `found` until the
  // list is complete: nothing for an unchanged key, every key for the first list.
  private async list(kind: "initial" | "resync"): Promise<void> {
    const listing = ++this.listings;
    const found: Listed<V>[] = [];
    let revision = 0n;
    const pages = listPages(this.source, this.config.prefix, {
      pageSize: this.config.pageSize,
      signal: this.abort.signal,
    });
    for await (const page of pages) {
      if (revision === 0n) revision = page.header?.revision ?? 0n;
      for (const kv of page.kvs) {
        const id = binaryKey(kv.key);
        const slot = this.store.get(id);
        if (slot !== undefined) {
          slot.listed = listing;
          if (slot.modRevision === kv.modRevision) continue;
        }
        found.push({ id, value: this.decode(kv.value, kv.key), modRevision: kv.modRevision });
      }
    }
    const changes: MirrorChange<V>[] | undefined = this.readers.size > 0 ? [] : undefined;
    for (const { id, value, modRevision } of found) {
      const slot = this.store.get(id);
      if (slot === undefined) {
        this.store.set(id, { value, modRevision, listed: listing });
        changes?.push({ type: "put", key: keyBytes(id), value, prevValue: undefined, modRevision });
      } else {
        const prevValue = slot.value;
        slot.value = value;
        slot.modRevision = modRevision;
        changes?.push({ type: "put", key: keyBytes(id), value, prevValue, modRevision });
      }
    }
    for (const [id, slot] of this.store) {
      if (slot.listed === listing) continue;
      this.store.delete(id);
      changes?.push({ type: "delete", key: keyBytes(id), prevValue: slot.value, modRevision: revision });
    }
    this.mirrored = revision;
    // Even an empty resync is told: readers learn the mirror moved to a new revision.
    if (changes !== undefined) this.publish({ kind, changes, revision });
  }

  // Follows the watch from the revision after the map's. "resync" when the watch's history was
  // compacted; "ended" when the watch ended cleanly (the mirror or its client was closed).
  private async follow(): Promise<"resync" | "ended"> {
    const watcher = this.source.watch(this.config.prefix, {
      prefix: true,
      startRevision: this.mirrored + 1n,
      signal: this.abort.signal,
    });
    this.watcher = watcher;
    // Not awaited: it stops by itself once this watcher is no longer the mirror's.
    void this.track(watcher);
    try {
      for await (const batch of watcher) this.apply(batch);
      return "ended";
    } catch (error) {
      if (EtcdError.is(error, "compacted")) return "resync";
      throw error;
    } finally {
      this.watcher = undefined;
      await watcher.close();
    }
  }

  // The watch's state is the mirror's while it follows: live when served, reconnecting when not.
  private async track(watcher: Watcher): Promise<void> {
    for (let status = watcher.status; status.state !== "closed"; status = await watcher.statusChanged()) {
      if (this.watcher !== watcher) return;
      if (status.state === "connected") {
        this.failures = 0;
        this.setState("live");
      } else if (status.state === "reconnecting") {
        this.setState("reconnecting");
      }
    }
  }

  private apply(batch: WatchBatch): void {
    const changes: MirrorChange<V>[] | undefined = this.readers.size > 0 ? [] : undefined;
    for (const event of batch.events) {
      const kv = event.kv;
      if (kv === undefined) continue;
      const id = binaryKey(kv.key);
      const slot = this.store.get(id);
      const modRevision = kv.modRevision;
      if (event.type === Event_EventType.DELETE) {
        if (slot !== undefined) {
          this.store.delete(id);
          changes?.push({ type: "delete", key: kv.key.slice(), prevValue: slot.value, modRevision });
        }
      } else {
        const value = this.decode(kv.value, kv.key);
        const prevValue = slot?.value;
        if (slot === undefined) this.store.set(id, { value, modRevision, listed: 0 });
        else {
          slot.value = value;
          slot.modRevision = modRevision;
        }
        changes?.push({ type: "put", key: kv.key.slice(), value, prevValue, modRevision });
      }
      this.mirrored = modRevision;
    }
    if (changes !== undefined && changes.length > 0) {
      this.publish({ kind: "events", changes, revision: this.mirrored });
    }
  }

  private decode(value: Uint8Array, key: Uint8Array): V {
    try {
      return this.config.decode(value, key);
    } catch (error) {
      // The decoder's message may quote the value: data from the network, escaped and cut.
      const reason = serverText(error instanceof Error ? error.message : String(error), 200);
      throw new EtcdError(
        `mirror: decode threw for a value of ${value.length} bytes: ${reason}`,
        Code.InvalidArgument,
        "invalid_argument",
        { cause: error },
      );
    }
  }

  private publish(batch: MirrorBatch<V>): void {
    for (const reader of this.readers) reader.push(batch);
  }

  private setState(next: MirrorStatus["state"], error?: EtcdError): void {
    if (this.current.state === "closed" || this.current.state === next) return;
    this.current = { state: next, since: Date.now(), revision: this.mirrored, error };
    const waiters = this.statusWaiters;
    this.statusWaiters = undefined;
    for (const waiter of waiters ?? []) waiter(this.current);
  }

  // Ends the mirror: closed, or failed with `error`. `ready`, if still pending, rejects with
  // `readyError`, `error`, or a cancellation.
  private finish(error?: EtcdError, readyError?: EtcdError): void {
    if (this.current.state === "closed") return;
    this.setState("closed", error);
    this.detach?.();
    this.detach = undefined;
    // The signal ends the list's page and the watch; the watch is also closed directly, so a
    // source that ignores watch signals still lets the loop end.
    this.abort.abort();
    void this.watcher?.close();
    this.settleReady?.(
      readyError ??
        error ??
        new EtcdError("the mirror was closed before its first list completed", Code.Canceled, "canceled"),
    );
    this.settleReady = undefined;
    for (const reader of [...this.readers]) reader.end(error);
  }
}
