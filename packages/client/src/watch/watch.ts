import type { Event } from "@etcd-connect/api/mvccpb";
import type { AsyncQueue } from "../async-queue.js";
import type { Bytes } from "../bytes.js";
import type { Int64Like } from "../int64.js";
import type { RangeSelector } from "../key-range.js";

/** Options of {@link Client.watch}. */
export interface WatchOptions extends RangeSelector {
  /** Deliver events from this revision on (history included); default: changes after now. */
  startRevision?: Int64Like;
  /** Include each event's previous key-value. Default: false. */
  prevKv?: boolean;
  /** Leave out put events. Default: false. */
  noPut?: boolean;
  /** Leave out delete events. Default: false. */
  noDelete?: boolean;
  /** Ask etcd for periodic progress notifications (empty batches with `progress: true`). Default: false. */
  progressNotify?: boolean;
  /** Let etcd split huge revisions into fragments; the client reassembles them. Default: false. */
  fragment?: boolean;
  /** Closes the watch when aborted. */
  signal?: AbortSignal;
}

/** One delivery of a watch: the events of one or more revisions, in order. */
export interface WatchBatch {
  /** The events, oldest first; empty for a progress notification. */
  events: Event[];
  /** The store revision when etcd sent the batch (header.revision). */
  revision: bigint;
  /** True for a progress notification: every event up to `revision` was delivered. */
  progress: boolean;
}

/**
 * A running watch: an AsyncIterable of {@link WatchBatch}es. Leaving the loop, `close()`,
 * `await using` or the options' `signal` all cancel it on the server; each of these, and closing
 * the client, ends a `for await` loop cleanly. It ends with an EtcdError only when it cannot go
 * on (reason `compacted` with `compactRevision`, or `permission_denied`), never by skipping events.
 *
 * @example
 * const watcher = client.watch("jobs/", { prefix: true });
 * for await (const batch of watcher) {
 *   for (const event of batch.events) console.log(event.type, event.kv?.key);
 *   if (done) break; // cancels the watch on the server
 * }
 */
export interface Watcher extends AsyncIterable<WatchBatch>, AsyncDisposable {
  /**
   * Resolves once etcd confirmed the watch (its first "created" answer): events of writes made
   * after this are delivered. Rejects if the watch ends first with an error.
   */
  readonly ready: Promise<void>;
  /** Cancels the watch; the iteration ends after the batches already delivered. */
  close(): Promise<void>;
  /**
   * Whether etcd is serving the watch right now (see {@link WatchStatus}): an application shows
   * "data may be stale" while it is `reconnecting`.
   */
  readonly status: WatchStatus;
  /** Resolves with the status after the next change (and at once with `closed` once closed). */
  statusChanged(): Promise<WatchStatus>;
}

/** Whether a watch is being served; see {@link Watcher.status}. */
export interface WatchStatus {
  /**
   * `connecting` until etcd first confirms the watch; `connected` while a stream serves it;
   * `reconnecting` once that stream failed (a member down, a network partition), until a new one
   * confirms the watch; `closed` when it ended.
   */
  readonly state: "connecting" | "connected" | "reconnecting" | "closed";
  /** When this state began (epoch ms). */
  readonly since: number;
  /**
   * The revision the watch goes on from: every event before it was delivered, or is buffered for
   * the reader. While `reconnecting`, the watch will resume exactly here, losing nothing.
   */
  readonly revision: bigint;
}

/**
 * The watch API of a client (`client.watch`, `client.requestProgress`), as an interface so
 * wrappers such as namespaces can compose it.
 */
export interface WatchApi {
  /** Watches a key, a range or a prefix; see {@link Watcher}. */
  watch(key: Bytes, options?: WatchOptions): Watcher;
  /** Asks etcd to confirm watch progress; watchers with `progressNotify` get a progress batch. */
  requestProgress(options?: { timeoutMs?: number }): Promise<void>;
}

/** The engine's side of one watch. */
export interface WatchHandle {
  readonly queue: AsyncQueue<WatchBatch>;
  readonly ready: Promise<void>;
  /** The consumer took a batch: the engine may resume a watch it paused for a slow reader. */
  consumed(batch: WatchBatch): void;
  close(): void;
  status(): WatchStatus;
  statusChanged(): Promise<WatchStatus>;
}

/** A {@link Watcher} over a handle of the watch engine. */
export class WatcherImpl implements Watcher {
  private readonly handle: WatchHandle;
  readonly ready: Promise<void>;

  constructor(handle: WatchHandle) {
    this.handle = handle;
    this.ready = handle.ready;
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchBatch> {
    const { queue } = this.handle;
    return {
      next: async () => {
        const result = await queue.next();
        if (!result.done) this.handle.consumed(result.value);
        return result;
      },
      return: async () => {
        this.handle.close();
        return { done: true, value: undefined };
      },
    };
  }

  close(): Promise<void> {
    this.handle.close();
    return Promise.resolve();
  }

  get status(): WatchStatus {
    return this.handle.status();
  }

  statusChanged(): Promise<WatchStatus> {
    return this.handle.statusChanged();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
