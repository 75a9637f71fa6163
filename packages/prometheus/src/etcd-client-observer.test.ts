import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ClientObserver } from "@etcd-connect/client";
import { Registry } from "prom-client";
import { createClientMetrics } from "./client-metrics.js";
import { type EtcdClientObserver, endpointLabel } from "./etcd-client-observer.js";

// Compile-time contract: our observer must be assignable to the client's ClientObserver, and
// cover every hook it has, so a hook added to the client fails `npm run lint` here until it is
// handled. (`Required` makes a missing method an error rather than an optional miss.)
type Covers<T, U> = [T] extends [Required<U>] ? true : false;
const coversClientObserver: Covers<EtcdClientObserver, ClientObserver> = true;
void coversClientObserver;

import { clientMetricNames as names } from "./metric-names.js";

async function series(registry: Registry, name: string, metricName = name) {
  const metric = registry.getSingleMetric(name);
  assert.ok(metric, `${name} is registered`);
  const { values } = await metric.get();
  return values
    .filter((v) => {
      const own = (v as { metricName?: string }).metricName;
      return own === undefined || own === metricName;
    })
    .map((v) => ({ labels: { ...v.labels }, value: v.value }));
}

describe("EtcdClientObserver", () => {
  it("counts retries by service, method and reason", async () => {
    const registry = new Registry();
    const { observer } = createClientMetrics({ registry });
    observer.onRetry("etcdserverpb.KV", "Range", "unavailable");
    observer.onRetry("etcdserverpb.KV", "Range", "unavailable");
    observer.onRetry("etcdserverpb.KV", "Txn", "no_leader");
    assert.deepEqual(await series(registry, names.retries), [
      { labels: { grpc_service: "etcdserverpb.KV", grpc_method: "Range", reason: "unavailable" }, value: 2 },
      { labels: { grpc_service: "etcdserverpb.KV", grpc_method: "Txn", reason: "no_leader" }, value: 1 },
    ]);
  });

  it("keeps user data out of retry labels and bounds the number of reasons", async () => {
    const registry = new Registry();
    const { observer } = createClientMetrics({ registry });
    observer.onRetry("/etcdserverpb.KV/Range", "users/alice/token", "etcdserver: key users/alice not found");
    for (let i = 0; i < 150; i++) observer.onRetry("etcdserverpb.KV", "Range", `reason_${i}`);
    const values = await series(registry, names.retries);
    assert.deepEqual(values[0], {
      labels: { grpc_service: "unknown", grpc_method: "unknown", reason: "other" },
      value: 1,
    });
    const reasons = new Set(values.map((v) => v.labels.reason));
    assert.equal(reasons.size, 101); // 100 distinct reasons, then everything else is "other"
    assert.equal(
      values.find((v) => v.labels.grpc_method === "Range" && v.labels.reason === "other")?.value,
      50,
    );
  });

  it("reports endpoint health per configured endpoint, origin only", async () => {
    const registry = new Registry();
    const { observer } = createClientMetrics({ registry });
    observer.onEndpoints([
      "http://10.0.0.1:2379",
      "https://root:secret@etcd-2:2379/some/path?token=x",
      "10.0.0.3:2379",
    ]);
    observer.onEndpointHealth("http://10.0.0.1:2379", false);
    assert.deepEqual(await series(registry, names.endpointHealthy), [
      { labels: { endpoint: "http://10.0.0.1:2379" }, value: 0 },
      { labels: { endpoint: "https://etcd-2:2379" }, value: 1 },
      { labels: { endpoint: "http://10.0.0.3:2379" }, value: 1 },
    ]);
    observer.onEndpointHealth("http://10.0.0.1:2379", true);
    observer.onEndpoints(["http://10.0.0.1:2379", "http://10.0.0.4:2379"]);
    assert.deepEqual(await series(registry, names.endpointHealthy), [
      { labels: { endpoint: "http://10.0.0.1:2379" }, value: 1 },
      { labels: { endpoint: "http://10.0.0.4:2379" }, value: 1 },
    ]);
  });

  it("bounds and sanitises endpoints", async () => {
    const registry = new Registry();
    const { observer } = createClientMetrics({ registry });
    observer.onEndpoints(Array.from({ length: 150 }, (_, i) => `http://10.0.${i >> 8}.${i & 255}:2379`));
    observer.onEndpointHealth("http://10.9.9.9:2379", false); // beyond the limit: dropped
    observer.onEndpointHealth("not a url at all", false);
    observer.onEndpointHealth("ftp://10.0.0.1", false);
    assert.equal((await series(registry, names.endpointHealthy)).length, 100);
    assert.equal(endpointLabel("127.0.0.1:2379"), "http://127.0.0.1:2379");
    assert.equal(endpointLabel("https://u:p@[::1]:2379/x?y=z#w"), "https://[::1]:2379");
    assert.equal(endpointLabel("unix:///var/run/etcd.sock"), undefined);
  });

  it("sets the watch, watch stream and kept lease gauges to the client's counts", async () => {
    const registry = new Registry();
    const { observer } = createClientMetrics({ registry });
    observer.onWatchStreams(2);
    observer.onWatches(7);
    observer.onKeptLeases(3);
    observer.onWatches(5);
    observer.onWatches(-1); // not a count: ignored
    observer.onKeptLeases(Number.NaN);
    observer.onWatchStreams(1.5);
    assert.deepEqual(await series(registry, names.watchStreams), [{ labels: {}, value: 2 }]);
    assert.deepEqual(await series(registry, names.watches), [{ labels: {}, value: 5 }]);
    assert.deepEqual(await series(registry, names.keptLeases), [{ labels: {}, value: 3 }]);
  });

  it("observes keepalive round trips and counts re-authentications", async () => {
    const registry = new Registry();
    const { observer } = createClientMetrics({ registry, keepAliveRoundTripBuckets: [0.01, 0.1] });
    observer.onKeepAliveRoundTrip(0.004);
    observer.onKeepAliveRoundTrip(0.05);
    observer.onKeepAliveRoundTrip(-1);
    observer.onKeepAliveRoundTrip(Number.POSITIVE_INFINITY);
    observer.onReauthentication();
    observer.onReauthentication();
    const buckets = await series(
      registry,
      names.keepAliveRoundTripSeconds,
      `${names.keepAliveRoundTripSeconds}_bucket`,
    );
    assert.deepEqual(
      buckets.map((b) => [b.labels.le, b.value]),
      [
        [0.01, 1],
        [0.1, 2],
        ["+Inf", 2],
      ],
    );
    assert.deepEqual(await series(registry, names.reauthentications), [{ labels: {}, value: 2 }]);
  });

  it("sums the counts of clients sharing a registry; health is the worst any client sees", async () => {
    const registry = new Registry();
    const a = createClientMetrics({ registry }).observer;
    const b = createClientMetrics({ registry }).observer;
    a.onWatches(2);
    b.onWatches(3);
    a.onKeptLeases(1);
    a.onEndpoints(["http://10.0.0.1:2379", "http://10.0.0.2:2379"]);
    b.onEndpoints(["http://10.0.0.2:2379", "http://10.0.0.3:2379"]);
    b.onEndpointHealth("http://10.0.0.2:2379", false);
    assert.deepEqual(await series(registry, names.watches), [{ labels: {}, value: 5 }]);
    assert.deepEqual(await series(registry, names.keptLeases), [{ labels: {}, value: 1 }]);
    assert.deepEqual(await series(registry, names.endpointHealthy), [
      { labels: { endpoint: "http://10.0.0.1:2379" }, value: 1 },
      { labels: { endpoint: "http://10.0.0.2:2379" }, value: 0 },
      { labels: { endpoint: "http://10.0.0.3:2379" }, value: 1 },
    ]);
    // A closed client stops counting; the other's values remain.
    b.onClose();
    b.onWatches(100);
    b.onRetry("etcdserverpb.KV", "Range", "unavailable");
    assert.deepEqual(await series(registry, names.watches), [{ labels: {}, value: 2 }]);
    assert.deepEqual(await series(registry, names.endpointHealthy), [
      { labels: { endpoint: "http://10.0.0.1:2379" }, value: 1 },
      { labels: { endpoint: "http://10.0.0.2:2379" }, value: 1 },
    ]);
    assert.deepEqual(await series(registry, names.retries), []);
    b.onClose(); // twice is fine
  });

  it("never throws, whatever it is given", () => {
    const { observer } = createClientMetrics({ registry: new Registry() });
    const junk: unknown[] = [undefined, null, 42, {}, [], "x".repeat(10_000), Symbol("s")];
    for (const value of junk) {
      const v = value as never;
      observer.onRetry(v, v, v);
      observer.onEndpoints(v);
      observer.onEndpointHealth(v, v);
      observer.onWatchStreams(v);
      observer.onWatches(v);
      observer.onKeptLeases(v);
      observer.onKeepAliveRoundTrip(v);
    }
  });
});
