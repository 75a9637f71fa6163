import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Client, createClient } from "@etcd-connect/client";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";

// etcd refuses requests with "etcdserver: too many requests" when its apply index lags its commit
// index, before proposing anything: nothing was applied, so every call, writes included, may back
// off and try again within its deadline. An overloaded etcd is not a failure.
describe("an overloaded etcd (too many requests)", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  const retries = new Map<string, number>();
  before(async () => {
    etcd = await startEtcd();
    client = createClient({
      endpoints: [etcd.clientUrl],
      observer: {
        onRetry: (_service, method, reason) => {
          const key = `${method} ${reason}`;
          retries.set(key, (retries.get(key) ?? 0) + 1);
        },
      },
    });
  });
  after(async () => {
    await client?.close();
    await etcd?.close();
  });

  it("10,000 concurrent lease grants all succeed", async () => {
    const results = await Promise.allSettled(Array.from({ length: 10_000 }, () => client.lease.grant(60)));
    const failed = results.filter((r) => r.status === "rejected");
    console.log(`  figure: grants retried ${JSON.stringify(Object.fromEntries(retries))}`);
    assert.deepEqual(failed.slice(0, 3), []);
    const ids = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.ID] : []));
    assert.equal(new Set(ids).size, 10_000);
  });

  it("10,000 concurrent puts all succeed, each applied once", async () => {
    retries.clear();
    const results = await Promise.allSettled(
      Array.from({ length: 10_000 }, (_, i) => client.put(`overload/${i}`, `v${i}`)),
    );
    const failed = results.filter((r) => r.status === "rejected");
    console.log(`  figure: puts retried ${JSON.stringify(Object.fromEntries(retries))}`);
    assert.deepEqual(failed.slice(0, 3), []);
    const range = await client.get("overload/", { prefix: true, countOnly: true });
    assert.equal(range.count, 10_000n);
    // Each key has version 1: no put was applied twice.
    const keys = await client.get("overload/", { prefix: true, keysOnly: true });
    assert.ok(keys.kvs.every((kv) => kv.version === 1n));
  });
});
