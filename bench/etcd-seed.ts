import { type Client, EtcdError, opPut } from "@etcd-connect/client";
import { runBounded } from "./bounded.js";
import { backlogPrefix, type CatchUpParams } from "./workloads.js";

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

/**
 * Compacts to the current revision so earlier runs' history does not weigh on later ones, and
 * waits until etcd has deleted that history (`physical`). etcd 3.4 deletes it in the background,
 * 1,000 revisions at a time with a 10 ms pause between batches, each batch holding the write lock
 * the next puts need; without the wait, a run that wrote 270,000 revisions (watch fan-in) slowed
 * the first round after it, always ours: ours read the lowest writer rate of watch-fan-in-1 in round
 * 1 of two full runs (6,427 and 6,439 keys a second against 7,704-12,332 in every other round).
 */
export async function compact(client: Client): Promise<void> {
  const revision = (await client.get("k/0", { countOnly: true })).header?.revision ?? 0n;
  // "already compacted" is fine
  await client.compact(revision, { physical: true }).catch(() => undefined);
}

/**
 * Revokes every lease the member holds, after each round of a lease workload. No client revokes
 * its leases when it stops, so they would expire during the next client's round, and when etcd
 * 3.4 revokes them decides what it spends on every keepalive of that round: each answer's header
 * reads the revision through `ConcurrentReadTx`, which copies the backend's read buffer, and that
 * buffer keeps (as slices of 512 entries or more) every bucket written in the last commit. Expired
 * leases revoked after a client's grants leave it empty; grants after them leave the lease bucket
 * in it. Which came last followed the clients' order, and etcd's CPU per keepalive at TTL 10 s read
 * 1.4-2.1x as much serving ours as serving Go (2026-12-05; a profile of etcd put half its CPU in
 * that copy for ours and none for Go). With the leases gone first, every client's own grants are
 * the last write before its window.
 */
export async function revokeLeases(client: Client): Promise<void> {
  const { leases } = await client.lease.leases();
  let next = 0;
  await runBounded(leases.length, 32, async () => {
    const lease = leases[next++];
    if (lease === undefined) return;
    // A lease may expire between the listing and its revocation.
    await client.lease.revoke(lease.ID).catch((error: unknown) => {
      if (!(error instanceof EtcdError && error.reason === "lease_not_found")) throw error;
    });
  });
}

/**
 * Writes watch-catch-up's backlog before a watcher's run: `revisions` txns of `batch` puts each
 * under the backlog prefix (a run of consecutive keys, so no key twice in a txn), 16 txns at a
 * time. Returns the backlog's first revision and the events it holds; nothing else writes while
 * it is written, so the revisions from that one on are the backlog's.
 */
export async function writeBacklog(
  client: Client,
  params: Pick<CatchUpParams, "revisions" | "batch" | "keys" | "valueBytes">,
): Promise<{ startRevision: number; events: number }> {
  const { revisions, batch, keys, valueBytes } = params;
  const head = (await client.get("k/0", { countOnly: true })).header?.revision ?? 0n;
  const value = Buffer.alloc(valueBytes, "b");
  let next = 0;
  await runBounded(revisions, 16, async () => {
    const first = (next++ * batch) % (keys - batch + 1);
    const ops = Array.from({ length: batch }, (_, i) => opPut(`${backlogPrefix}${first + i}`, value));
    await client
      .txn()
      .then(...ops)
      .commit();
  });
  return { startRevision: Number(head) + 1, events: revisions * batch };
}
