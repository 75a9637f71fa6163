import type { Client } from "@etcd-connect/client";

/** Writes `keys` keys `k/0` ... with values of `valueBytes` bytes, 128 puts at a time. */
export async function prepopulate(client: Client, keys: number, valueBytes: number): Promise<void> {
  const value = Buffer.alloc(valueBytes, "v");
  let next = 0;
  const loop = async () => {
    while (next < keys) await client.put(`k/${next++}`, value);
  };
  await Promise.all(Array.from({ length: 128 }, loop));
}

/** Compacts to the current revision so earlier runs' history does not weigh on later ones. */
export async function compact(client: Client): Promise<void> {
  const revision = (await client.get("k/0", { countOnly: true })).header?.revision ?? 0n;
  await client.compact(revision).catch(() => undefined); // "already compacted" is fine
}
