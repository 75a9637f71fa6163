import type { EtcdApi } from "@etcd-connect/client";
import { type Bytes, EtcdError, EventType, type ResponseHeader } from "@etcd-connect/client";
import { operationSignal } from "./keys.js";

/**
 * Waits until no key under `prefix` has a create revision of `maxCreateRevision` or less: the
 * fair queue of Go's mutex and election. Each round watches only the newest such key (the one
 * queued right before us), so a release wakes exactly one waiter, never the whole queue, and
 * nothing is polled. Resolves with the header of the read that found the queue ahead empty.
 */
export async function waitDeletes(
  client: EtcdApi,
  prefix: string,
  maxCreateRevision: bigint,
  signal: AbortSignal,
): Promise<ResponseHeader | undefined> {
  for (;;) {
    const res = await client.get(prefix, {
      prefix: true,
      sortTarget: "create",
      sortOrder: "descend",
      limit: 1,
      // etcd reads 0 as "no filter"; our own key has a create revision of at least 2.
      maxCreateRevision: maxCreateRevision < 1n ? 1n : maxCreateRevision,
      signal,
    });
    const ahead = res.kvs[0];
    if (ahead === undefined || ahead.createRevision > maxCreateRevision) return res.header;
    await waitDelete(client, ahead.key, res.header?.revision ?? 0n, signal);
  }
}

/** Waits for a delete of `key` at `revision` or later. */
async function waitDelete(client: EtcdApi, key: Bytes, revision: bigint, signal: AbortSignal): Promise<void> {
  // Its own signal: the watch leaves a listener behind on the signal it gets.
  const scope = operationSignal(signal);
  const watcher = client.watch(key, { startRevision: revision, noPut: true, signal: scope.signal });
  try {
    for await (const batch of watcher) {
      if (batch.events.some((event) => event.type === EventType.DELETE)) return;
    }
  } catch (error) {
    // The history was compacted past `revision`: the caller's next read tells the truth.
    if (EtcdError.is(error, "compacted")) return;
    throw error;
  } finally {
    await watcher.close();
    scope.dispose();
  }
  signal.throwIfAborted();
  // A watch that ends without an error, unasked, is a client bug; do not spin on it.
  throw new Error("etcd-connect: watch ended while waiting for a delete");
}
