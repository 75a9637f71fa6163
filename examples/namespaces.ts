// Multi-tenant namespaces: two tenants use the same key names without seeing each other.
import { createClient } from "@etcd-connect/client";
import { namespace } from "@etcd-connect/namespace";

const endpoints = (process.env.ETCD_ENDPOINTS ?? "http://127.0.0.1:2379").split(",");
await using client = createClient({ endpoints });

const acme = namespace(client, "tenants/acme/");
const globex = namespace(client, "tenants/globex/");
await acme.put("settings/theme", "dark");
await globex.put("settings/theme", "light");

console.log("acme theme:", await acme.getText("settings/theme"));
console.log("globex theme:", await globex.getText("settings/theme"));
console.log("acme sees keys:", (await acme.get("", { prefix: true })).count);
console.log(
  "stored at:",
  (await client.get("tenants/", { prefix: true, keysOnly: true })).kvs.map((kv) =>
    new TextDecoder().decode(kv.key),
  ),
);
await client.delete("tenants/", { prefix: true });
