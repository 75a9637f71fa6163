// Shared pieces of the watch tests.

import type { WatchBatch, Watcher } from "@etcd-connect/client";
import type { EtcdMember } from "@etcd-connect/testing";

/** A gauge or counter from a member's /metrics (summed over label sets). */
export async function metric(member: EtcdMember, name: string): Promise<number> {
  const body = await (await fetch(`${member.directClientUrl}/metrics`)).text();
  let total = 0;
  for (const line of body.split("\n")) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) total += Number(line.split(" ").pop());
  }
  return total;
}

/** Reads batches until `count` events arrived (or the watcher ends), collecting mod revisions. */
export async function collect(
  watcher: Watcher,
  count: number,
  onBatch?: (batch: WatchBatch, seen: number) => void,
): Promise<bigint[]> {
  const revisions: bigint[] = [];
  for await (const batch of watcher) {
    for (const event of batch.events) revisions.push(event.kv?.modRevision ?? -1n);
    onBatch?.(batch, revisions.length);
    if (revisions.length >= count) break;
  }
  return revisions;
}

/** Strictly increasing, hence unique and in order. */
export function strictlyIncreasing(values: bigint[]): boolean {
  return values.every((v, i) => i === 0 || v > (values[i - 1] as bigint));
}
