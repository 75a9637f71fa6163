// Watch with resume: process events, remember the last revision, and later pick up exactly
// where you left off (events written in between are delivered, none twice).
import { bytesToText, createClient } from "@etcd-connect/client";

const endpoints = (process.env.ETCD_ENDPOINTS ?? "http://127.0.0.1:2379").split(",");
await using client = createClient({ endpoints });

let lastRevision = 0n;
{
  await using watcher = client.watch("example/jobs/", { prefix: true });
  await watcher.ready;
  await client.put("example/jobs/1", "queued");
  for await (const batch of watcher) {
    for (const event of batch.events) {
      console.log("first run:", bytesToText(event.kv?.key ?? new Uint8Array()));
      lastRevision = event.kv?.modRevision ?? lastRevision;
    }
    break;
  }
}

// While nobody watches, more work arrives.
await client.put("example/jobs/2", "queued");
await client.put("example/jobs/3", "queued");

// Resume right after the last event handled.
await using resumed = client.watch("example/jobs/", { prefix: true, startRevision: lastRevision + 1n });
let seen = 0;
for await (const batch of resumed) {
  for (const event of batch.events) {
    console.log("resumed:", bytesToText(event.kv?.key ?? new Uint8Array()));
    seen++;
  }
  if (seen >= 2) break;
}
await client.delete("example/jobs/", { prefix: true });
