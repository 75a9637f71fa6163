// Basic KV: put, get, ranges, a create-if-absent transaction, delete.
// Run: ETCD_ENDPOINTS=http://127.0.0.1:2379 node --conditions=source --import tsx examples/basic-kv.ts
import { compare, createClient, opGet, opPut } from "@etcd-connect/client";

const endpoints = (process.env.ETCD_ENDPOINTS ?? "http://127.0.0.1:2379").split(",");
await using client = createClient({ endpoints });

await client.put("example/users/alice", JSON.stringify({ role: "admin" }));
await client.put("example/users/bob", JSON.stringify({ role: "reader" }));
console.log("alice:", await client.getJson("example/users/alice"));

const users = await client.get("example/users/", { prefix: true, keysOnly: true });
console.log(
  "users:",
  users.kvs.map((kv) => new TextDecoder().decode(kv.key)),
);

const claim = await client
  .txn()
  .if(compare.version("example/owner", "=", 0))
  .then(opPut("example/owner", "alice"))
  .else(opGet("example/owner"))
  .commit();
console.log("claimed ownership:", claim.succeeded);

const removed = await client.delete("example/", { prefix: true });
console.log("deleted keys:", removed.deleted);
