import type { Bytes, Event, WatchApi, WatchBatch, Watcher } from "@etcd-connect/client";
import { namespacePrefix, prefixSelection, withRangeEnd } from "./prefix.js";
import { stripEvent } from "./strip-responses.js";

/** The batch with every event's keys stripped; undefined when nothing of it belongs here. */
function stripBatch(prefix: Uint8Array, batch: WatchBatch): WatchBatch | undefined {
  if (batch.events.length === 0) return { ...batch };
  const events: Event[] = [];
  for (const event of batch.events) {
    const stripped = stripEvent(prefix, event);
    if (stripped !== undefined) events.push(stripped);
  }
  // A batch whose events all lay outside the prefix would read as an empty non-progress batch.
  return events.length === 0 ? undefined : { ...batch, events };
}

/**
 * The inner watcher seen through the prefix. Everything that ends a watch (close, dispose,
 * leaving a loop) is handed to the inner watcher, so the watch is cancelled on the server.
 */
function namespacedWatcher(inner: Watcher, prefix: Uint8Array): Watcher {
  return {
    ready: inner.ready,
    close: () => inner.close(),
    // Connection state has no keys in it: the inner watcher's, as it is.
    get status() {
      return inner.status;
    },
    statusChanged: () => inner.statusChanged(),
    [Symbol.asyncDispose]: () => inner[Symbol.asyncDispose](),
    [Symbol.asyncIterator](): AsyncIterator<WatchBatch> {
      const batches = inner[Symbol.asyncIterator]();
      return {
        next: async () => {
          for (;;) {
            const result = await batches.next();
            if (result.done) return result;
            const batch = stripBatch(prefix, result.value);
            if (batch !== undefined) return { done: false, value: batch };
          }
        },
        return: async () => {
          if (batches.return !== undefined) await batches.return();
          else await inner.close();
          return { done: true, value: undefined };
        },
      };
    },
  };
}

/**
 * A watch API whose keys live under `prefix`, as Go's `namespace.NewWatcher`: the watched key
 * and range end are prefixed (prefix and from-key watches stay inside the prefix), and every
 * event's `kv` and `prevKv` come back without it. Progress batches and `requestProgress` pass
 * through: revisions are global.
 *
 * @example
 * const tenant = namespaceWatcher(client, "tenant-a/");
 * const watcher = tenant.watch("jobs/", { prefix: true }); // etcd keys "tenant-a/jobs/..."
 * await watcher.ready;
 * for await (const batch of watcher) for (const e of batch.events) console.log(e.kv?.key); // "jobs/..."
 */
export function namespaceWatcher(watcher: WatchApi, prefix: Bytes): WatchApi {
  const pfx = namespacePrefix(prefix);
  return {
    // Bad input throws here, before anything is sent, as the client's watch does.
    watch: (key, options) => {
      const range = prefixSelection(pfx, key, options);
      return namespacedWatcher(watcher.watch(range.key, withRangeEnd(options, range.rangeEnd)), pfx);
    },
    requestProgress: (options) => watcher.requestProgress(options),
  };
}
