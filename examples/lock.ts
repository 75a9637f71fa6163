// Distributed lock: three workers take turns in a critical section guarded by one mutex.
// The lock keys are Go's layout, so `etcdctl lock jobs/nightly` would queue with them.
import { createClient, opPut } from "@etcd-connect/client";
import { createMutex, createSession } from "@etcd-connect/concurrency";

const endpoints = (process.env.ETCD_ENDPOINTS ?? "http://127.0.0.1:2379").split(",");
await using client = createClient({ endpoints });

let inside = 0;
async function worker(name: string): Promise<void> {
  await using session = await createSession(client, { ttl: 10 });
  const mutex = createMutex(session, "example/locks/nightly");
  await mutex.lock();
  try {
    inside++;
    if (inside !== 1) throw new Error("two workers inside the critical section");
    // Written only while we still own the lock on the server.
    await client.txn().if(mutex.isOwnerCompare()).then(opPut("example/nightly/last-run", name)).commit();
    console.log(`${name} ran the nightly job`);
    inside--;
  } finally {
    await mutex.unlock();
  }
}

await Promise.all(["worker-1", "worker-2", "worker-3"].map(worker));
console.log("last run by:", await client.getText("example/nightly/last-run"));
await client.delete("example/", { prefix: true });
