// Shared pieces of the watch tests.

import type { WatchBatch, Watcher } from "@etcd-connect/client";
import type { EtcdMember } from "@etcd-connect/testing";

/**
 * A gauge or counter from a member's /metrics, summed over its label sets, or over those that
 * contain `label` (such as `grpc_method="Watch"`).
 */
export async function metric(member: EtcdMember, name: string, label?: string): Promise<number> {
  const body = await (await fetch(`${member.directClientUrl}/metrics`)).text();
  let total = 0;
  for (const line of body.split("\n")) {
    const named = line.startsWith(`${name} `) || line.startsWith(`${name}{`);
    if (named && (label === undefined || line.includes(label))) total += Number(line.split(" ").pop());
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
