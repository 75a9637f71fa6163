import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Counter, Gauge, Registry } from "prom-client";
import { createClientMetrics } from "./client-metrics.js";
import { clientMetricNames } from "./metric-names.js";

const names = (registry: Registry) => registry.getMetricsAsArray().map((m) => m.name);

describe("createClientMetrics", () => {
  it("registers the counters, gauges and keepalive histogram; opt-in histograms only when asked", () => {
    const registry = new Registry();
    createClientMetrics({ registry });
    const without = new Set<string>([
      clientMetricNames.handlingSeconds,
      clientMetricNames.msgRecvHandlingSeconds,
      clientMetricNames.msgSendHandlingSeconds,
    ]);
    assert.deepEqual(
      names(registry).sort(),
      Object.values(clientMetricNames)
        .filter((n) => !without.has(n))
        .sort(),
    );
    const full = new Registry();
    createClientMetrics({ registry: full, handlingTimeHistogram: true, streamHistograms: true });
    assert.deepEqual(names(full).sort(), Object.values(clientMetricNames).sort());
  });

  it("lets two clients share a registry: the second reuses the metrics instead of registering again", async () => {
    const registry = new Registry();
    const first = createClientMetrics({ registry });
    const before = registry.getSingleMetric(clientMetricNames.started);
    const second = createClientMetrics({ registry, handlingTimeHistogram: true });
    assert.notEqual(first.interceptor, second.interceptor);
    assert.equal(registry.getSingleMetric(clientMetricNames.started), before);
    assert.equal(new Set(names(registry)).size, names(registry).length);
    // The histogram only the second asked for is there now, and a third client finds it.
    assert.ok(registry.getSingleMetric(clientMetricNames.handlingSeconds));
    createClientMetrics({ registry, handlingTimeHistogram: { buckets: [1, 2] } });
    // Both observers feed the same gauges; their counts add up.
    first.observer.onWatches(2);
    second.observer.onWatches(3);
    const watches = await registry.getSingleMetric(clientMetricNames.watches)?.get();
    assert.equal(watches?.values[0]?.value, 5);
    assert.ok((await registry.metrics()).includes("grpc_client_started_total"));
  });

  it("refuses a registry where the names mean something else", () => {
    const wrongKind = new Registry();
    new Gauge({ name: clientMetricNames.started, help: "x", registers: [wrongKind] });
    assert.throws(
      () => createClientMetrics({ registry: wrongKind }),
      /grpc_client_started_total is already registered as a Gauge, not a Counter/,
    );
    const wrongLabels = new Registry();
    new Counter({
      name: clientMetricNames.handled,
      help: "x",
      labelNames: ["code"],
      registers: [wrongLabels],
    });
    assert.throws(
      () => createClientMetrics({ registry: wrongLabels }),
      /grpc_client_handled_total is already registered with labels \[code\], not \[grpc_code, grpc_method, grpc_service, grpc_type\]/,
    );
    const foreignGauge = new Registry();
    new Gauge({ name: clientMetricNames.watches, help: "x", registers: [foreignGauge] });
    assert.throws(
      () => createClientMetrics({ registry: foreignGauge }),
      /etcd_client_watches is already registered by another library/,
    );
  });
});
