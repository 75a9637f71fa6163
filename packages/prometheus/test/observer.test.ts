import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createClient } from "@etcd-connect/client";
import { createClientMetrics } from "@etcd-connect/prometheus";
import { type EtcdMember, freePort, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { Registry } from "prom-client";
import { metricValue } from "./metric-values.js";

describe("etcd-aware metrics fed by a real client", integrationOptions(), () => {
  let etcd: EtcdMember;
  before(async () => {
    etcd = await startEtcd();
  });
  after(() => etcd?.close());

  it("counts retries, endpoint health, open watches, kept leases and keepalive round trips", async () => {
    const registry = new Registry();
    const metrics = createClientMetrics({ registry });
    const dead = `127.0.0.1:${await freePort()}`;
    const client = createClient({
      endpoints: [dead, etcd.clientUrl],
      balancer: "pinned",
      interceptors: [metrics.interceptor],
      observer: metrics.observer,
    });
    try {
      await client.get("obs/k");
      assert.ok((await metricValue(registry, "etcd_client_retries_total", { grpc_method: "Range" })) >= 1);
      assert.equal(
        await metricValue(registry, "etcd_client_endpoint_healthy", { endpoint: `http://${dead}` }),
        0,
      );
      assert.equal(
        await metricValue(registry, "etcd_client_endpoint_healthy", { endpoint: etcd.clientUrl }),
        1,
      );
      const watcher = client.watch("obs/", { prefix: true });
      await watcher.ready;
      assert.equal(await metricValue(registry, "etcd_client_watches"), 1);
      assert.equal(await metricValue(registry, "etcd_client_watch_streams"), 1);
      await watcher.close();
      assert.equal(await metricValue(registry, "etcd_client_watches"), 0);
      const { ID } = await client.lease.grant(5);
      const keeper = client.lease.keepAlive(ID);
      for await (const _ of keeper) break;
      assert.equal(await metricValue(registry, "etcd_client_kept_leases"), 0);
      const again = client.lease.keepAlive(ID);
      const it = again[Symbol.asyncIterator]();
      await it.next();
      assert.equal(await metricValue(registry, "etcd_client_kept_leases"), 1);
      assert.ok(
        (await metricValue(registry, "etcd_client_lease_keepalive_round_trip_seconds", {}, "count")) >= 2,
      );
      await again.close();
      assert.equal(await metricValue(registry, "etcd_client_kept_leases"), 0);
    } finally {
      await client.close();
    }
  });
});
