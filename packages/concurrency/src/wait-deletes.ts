import type { EtcdApi } from "@etcd-connect/client";
import { EventType, type ResponseHeader } from "@etcd-connect/client";
import { waitEvent } from "./wait-event.js";

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
    // Undefined (history compacted) also loops: the next read tells the truth.
    await waitEvent(
      client,
      ahead.key,
      { startRevision: res.header?.revision ?? 0n, type: EventType.DELETE },
      signal,
    );
  }
}
