import type { Client } from "@etcd-connect/client";

/**
 * Writes `keys` keys `k/0` ... with values of `valueBytes` bytes, 128 puts at a time, then compacts,
 * as after every run: etcd 3.4 freshly seeded spends about three times the CPU per read it spends
 * once compacted (10,000 keys of one revision each, 2026-12-04: 162-221 against 61-64 us per get),
 * so the first round of a read workload would measure etcd's state, not the client going first.
 */
export async function prepopulate(client: Client, keys: number, valueBytes: number): Promise<void> {
  const value = Buffer.alloc(valueBytes, "v");
  let next = 0;
  const loop = async () => {
    while (next < keys) await client.put(`k/${next++}`, value);
  };
  await Promise.all(Array.from({ length: 128 }, loop));
  await compact(client);
}

/** Compacts to the current revision so earlier runs' history does not weigh on later ones. */
export async function compact(client: Client): Promise<void> {
  const revision = (await client.get("k/0", { countOnly: true })).header?.revision ?? 0n;
  await client.compact(revision).catch(() => undefined); // "already compacted" is fine
}
