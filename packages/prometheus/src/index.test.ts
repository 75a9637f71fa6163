import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { register } from "prom-client";
import * as api from "./index.js";

const ours = () =>
  register
    .getMetricsAsArray()
    .map((m) => m.name)
    .filter((name) => (Object.values(api.clientMetricNames) as string[]).includes(name));

describe("the package entry point", () => {
  after(() => {
    for (const name of ours()) register.removeSingleMetric(name);
  });

  it("registers nothing on import", () => {
    assert.deepEqual(ours(), []);
  });

  it("uses prom-client's global registry when given none", () => {
    const metrics = api.createClientMetrics();
    assert.equal(metrics.registry, register);
    assert.ok(ours().includes(api.clientMetricNames.started));
    // A second client on the default registry is fine too.
    api.createClientMetrics();
  });
});
