import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { bytesToText, type Client, createClient } from "@etcd-connect/client";
import { createEndpointManager, encodeEndpoint, type JsonValue } from "@etcd-connect/discovery";
import { namespace } from "@etcd-connect/namespace";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { buildGoInterop, type GoEntry, GoWatch, goSuiteOptions, runGo } from "./go-interop.js";
import { plain, Snapshots } from "./helpers.js";

// Metadata as JSON text, handed to Go as is and to Node parsed: sorted keys (UTF-8 order, not
// UTF-16's), HTML and separator escapes, control characters, numbers at the exponent bounds and
// the sign of zero. `\b` and `\f` are left out: Go 1.22 changed how it writes them.
const metadataCases: Array<[string, string | undefined]> = [
  ["none", undefined],
  ["null", "null"],
  ["object", '{"zone":"b","weight":2,"tags":["canary","<beta>"],"on":true}'],
  ["key-order", '{"z":1,"a":2,"10":3,"9":4,"é":5,"😀":6,"\\uffff":7}'],
  ["escapes", '"<&>\\u2028\\u2029\\u0001\\u001f\\t\\n\\r\\"\\\\\\u007f é😀"'],
  ["numbers", "[1e21,1e-7,-0,0,0.1,5e-324,1e20,0.000001,-1.5e-9,1.7976931348623157e308,123456789]"],
];

describe("interop with Go's clientv3/naming/endpoints", goSuiteOptions(integrationOptions()), () => {
  let bin: string;
  let etcd: EtcdMember;
  let client: Client;
  const goWatches: GoWatch[] = [];
  const watches: Snapshots[] = [];
  const go = (...args: string[]) => runGo(bin, [etcd.clientUrl, ...args]);
  const goNamespaced = (prefix: string, ...args: string[]) =>
    runGo(bin, ["-namespace", prefix, etcd.clientUrl, ...args]);

  before(async () => {
    bin = await buildGoInterop();
    etcd = await startEtcd();
    client = createClient({ endpoints: [etcd.clientUrl] });
  });
  after(async () => {
    for (const watch of goWatches) await watch.close();
    for (const snapshots of watches) await snapshots.close();
    await client?.close();
    await etcd?.close();
  });

  it("Go and Node store the same key and the same bytes for the same endpoint", async () => {
    const manager = createEndpointManager(client, "bytes");
    for (const [name, metadata] of metadataCases) {
      await go(
        "add",
        "bytes",
        `bytes/go-${name}`,
        "10.5.0.1:8080",
        ...(metadata === undefined ? [] : [metadata]),
      );
      const endpoint =
        metadata === undefined
          ? { addr: "10.5.0.1:8080" }
          : { addr: "10.5.0.1:8080", metadata: JSON.parse(metadata) as JsonValue };
      await manager.add(`bytes/node-${name}`, endpoint);
      const [theirs, ours] = await Promise.all([
        client.get(`bytes/go-${name}`),
        client.get(`bytes/node-${name}`),
      ]);
      const goKv = theirs.kvs[0];
      const nodeKv = ours.kvs[0];
      assert.ok(goKv !== undefined && nodeKv !== undefined, name);
      // The key is the one given, byte for byte, in both.
      assert.deepEqual(Uint8Array.from(goKv.key), new TextEncoder().encode(`bytes/go-${name}`));
      assert.deepEqual(Uint8Array.from(nodeKv.key), new TextEncoder().encode(`bytes/node-${name}`));
      assert.deepEqual(
        Uint8Array.from(nodeKv.value),
        Uint8Array.from(goKv.value),
        `${name}: ours ${bytesToText(nodeKv.value)}, Go's ${bytesToText(goKv.value)}`,
      );
      assert.equal(encodeEndpoint(endpoint), bytesToText(goKv.value), name);
    }
  });

  it("Go registers and deletes; Node lists and watches the same endpoints", async () => {
    const manager = createEndpointManager(client, "from-go");
    const snapshots = new Snapshots(manager);
    watches.push(snapshots);
    assert.equal((await snapshots.next()).endpoints.size, 0);

    await go("add", "from-go", "from-go/a", "10.5.1.1:80", '{"weight":3}');
    const added = await snapshots.next();
    assert.deepEqual(added.updates, [
      { op: "add", key: "from-go/a", endpoint: { addr: "10.5.1.1:80", metadata: { weight: 3 } } },
    ]);
    await go("add", "from-go", "from-go/b", "10.5.1.2:80");
    assert.deepEqual([...(await snapshots.next()).endpoints.keys()], ["from-go/a", "from-go/b"]);
    await go("delete", "from-go", "from-go/a");
    const deleted = await snapshots.next();
    assert.deepEqual(deleted.updates, [{ op: "delete", key: "from-go/a" }]);

    // Node's list is Go's list.
    const goList = (await go("list", "from-go")) as GoEntry[];
    assert.deepEqual(
      plain(await manager.list()),
      Object.fromEntries(goList.map((e) => [e.key, { addr: e.addr, metadata: e.metadata }])),
    );
    assert.deepEqual(plain(deleted.endpoints), plain(await manager.list()));
  });

  it("Node registers, updates and deletes; Go lists and watches the same endpoints", async () => {
    const manager = createEndpointManager(client, "from-node");
    const watch = new GoWatch(bin, [etcd.clientUrl, "watch", "from-node"]);
    goWatches.push(watch);
    assert.equal(await watch.next(), "ready");

    await using registration = await manager.register(
      "from-node/a",
      { addr: "10.5.2.1:80", metadata: { zone: "<b>", weight: 0.5 } },
      { ttl: 10 },
    );
    assert.deepEqual(await watch.next(), [
      { op: "add", key: "from-node/a", addr: "10.5.2.1:80", metadata: { zone: "<b>", weight: 0.5 } },
    ]);
    await manager.update([
      { op: "add", key: "from-node/b", endpoint: { addr: "10.5.2.2:80" } },
      { op: "add", key: "from-node/c", endpoint: { addr: "10.5.2.3:80", metadata: [1, "two"] } },
    ]);
    // One transaction: one batch of Go updates.
    assert.deepEqual(await watch.next(), [
      { op: "add", key: "from-node/b", addr: "10.5.2.2:80", metadata: null },
      { op: "add", key: "from-node/c", addr: "10.5.2.3:80", metadata: [1, "two"] },
    ]);
    await manager.delete("from-node/b");
    assert.deepEqual(await watch.next(), [{ op: "delete", key: "from-node/b", addr: "", metadata: null }]);

    assert.deepEqual(await go("list", "from-node"), [
      { key: "from-node/a", addr: "10.5.2.1:80", metadata: { zone: "<b>", weight: 0.5 } },
      { key: "from-node/c", addr: "10.5.2.3:80", metadata: [1, "two"] },
    ]);
    // Closing the registration revokes its lease: Go sees the endpoint go.
    await registration.close();
    assert.deepEqual(await watch.next(), [{ op: "delete", key: "from-node/a", addr: "", metadata: null }]);
  });

  it("inside a namespace, Go's namespaced client and ours share the endpoints", async () => {
    const manager = createEndpointManager(namespace(client, "tenants/acme/"), "api");
    await goNamespaced("tenants/acme/", "add", "api", "api/go", "10.5.3.1:80");
    await manager.add("api/node", { addr: "10.5.3.2:80" });
    assert.deepEqual(plain(await manager.list()), {
      "api/go": { addr: "10.5.3.1:80", metadata: null },
      "api/node": { addr: "10.5.3.2:80", metadata: null },
    });
    assert.deepEqual(await goNamespaced("tenants/acme/", "list", "api"), [
      { key: "api/go", addr: "10.5.3.1:80", metadata: null },
      { key: "api/node", addr: "10.5.3.2:80", metadata: null },
    ]);
    const raw = await client.get("tenants/acme/api/", { prefix: true });
    assert.deepEqual(
      raw.kvs.map((kv) => bytesToText(kv.key)),
      ["tenants/acme/api/go", "tenants/acme/api/node"],
    );
    assert.deepEqual(
      raw.kvs.map((kv) => bytesToText(kv.value)),
      [encodeEndpoint({ addr: "10.5.3.1:80" }), encodeEndpoint({ addr: "10.5.3.2:80" })],
    );
    assert.equal((await client.get("api/", { prefix: true, countOnly: true })).count, 0n);
  });

  it("unlike Go 3.4, a target does not list another target that starts with the same text", async () => {
    await go("add", "pay", "pay/a", "10.5.4.1:80");
    await go("add", "pay-admin", "pay-admin/b", "10.5.4.2:80");
    // Go 3.4 reads the bare target as a prefix, so it lists pay-admin's endpoint as pay's.
    assert.deepEqual(
      ((await go("list", "pay")) as GoEntry[]).map((e) => e.key),
      ["pay-admin/b", "pay/a"],
    );
    assert.deepEqual([...(await createEndpointManager(client, "pay").list()).keys()], ["pay/a"]);
  });
});
