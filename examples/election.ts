// Leader election: two candidates campaign; the first leads, resigns, and the second takes over.
// Go services and `etcdctl elect -l example/elections/scheduler` see the same leader.
import { createClient } from "@etcd-connect/client";
import { createElection, createSession } from "@etcd-connect/concurrency";

const endpoints = (process.env.ETCD_ENDPOINTS ?? "http://127.0.0.1:2379").split(",");
await using client = createClient({ endpoints });
await using sessionA = await createSession(client, { ttl: 10 });
await using sessionB = await createSession(client, { ttl: 10 });

const a = createElection(sessionA, "example/elections/scheduler");
const b = createElection(sessionB, "example/elections/scheduler");

await a.campaign("node-a");
console.log("leader:", new TextDecoder().decode((await a.leader())?.value));

const bLeads = b.campaign("node-b"); // waits behind node-a
await a.proclaim("node-a (still here)");
console.log("leader:", new TextDecoder().decode((await b.leader())?.value));
await a.resign();
await bLeads;
console.log("leader:", new TextDecoder().decode((await b.leader())?.value));
await b.resign();
