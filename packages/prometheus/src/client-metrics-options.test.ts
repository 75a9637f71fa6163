import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Registry, register } from "prom-client";
import { defaultBuckets, validateClientMetricsOptions } from "./client-metrics-options.js";

describe("validateClientMetricsOptions", () => {
  it("defaults: the global registry, histograms off, Prometheus's default buckets for keepalive", () => {
    const resolved = validateClientMetricsOptions();
    assert.equal(resolved.registry, register);
    assert.equal(resolved.handlingTimeBuckets, undefined);
    assert.equal(resolved.streamBuckets, undefined);
    assert.deepEqual(
      resolved.keepAliveRoundTripBuckets,
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    );
  });

  it("turns histograms on with default or given buckets", () => {
    const registry = new Registry();
    const resolved = validateClientMetricsOptions({
      registry,
      handlingTimeHistogram: true,
      streamHistograms: { buckets: [0.1, 1] },
      keepAliveRoundTripBuckets: [0.5],
    });
    assert.equal(resolved.registry, registry);
    assert.deepEqual(resolved.handlingTimeBuckets, defaultBuckets);
    assert.deepEqual(resolved.streamBuckets, [0.1, 1]);
    assert.deepEqual(resolved.keepAliveRoundTripBuckets, [0.5]);
    assert.deepEqual(validateClientMetricsOptions({ streamHistograms: {} }).streamBuckets, defaultBuckets);
    assert.equal(
      validateClientMetricsOptions({ handlingTimeHistogram: false }).handlingTimeBuckets,
      undefined,
    );
  });

  it("refuses bad values with a message naming the option", () => {
    const cases: [unknown, RegExp][] = [
      [{ handlingTimeHistogram: { buckets: [] } }, /handlingTimeHistogram\.buckets must be a non-empty/],
      [{ streamHistograms: { buckets: [1, 1] } }, /streamHistograms\.buckets must be strictly increasing/],
      [{ streamHistograms: { buckets: [1, Number.POSITIVE_INFINITY] } }, /streamHistograms\.buckets\[1\]/],
      [{ keepAliveRoundTripBuckets: [2, 1] }, /keepAliveRoundTripBuckets must be strictly increasing/],
      [{ handlingTimeHistogram: "yes" }, /handlingTimeHistogram must be a boolean or \{ buckets \}/],
      [{ registry: {} }, /registry must be a prom-client Registry/],
    ];
    for (const [options, message] of cases) {
      assert.throws(() => validateClientMetricsOptions(options as never), message);
    }
  });
});
