import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { clientMetricNames, createClientMetrics, histogramMetricNames } from "@etcd-connect/prometheus";
import { Registry } from "prom-client";
import { promqlMetricNames } from "./promql-metric-names.js";

interface Panel {
  id: number;
  type: string;
  title: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

interface Dashboard {
  title: string;
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; query?: string | { query?: string } }[] };
}

const file = join(import.meta.dirname, "..", "dashboards", "etcd-connect.json");

/** Every PromQL text of the dashboard: panel targets (rows included) and variable queries. */
function queries(dashboard: Dashboard): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  const visit = (panel: Panel) => {
    for (const target of panel.targets ?? []) {
      if (target.expr !== undefined) out.push({ where: `panel "${panel.title}"`, expr: target.expr });
    }
    for (const inner of panel.panels ?? []) visit(inner);
  };
  for (const panel of dashboard.panels) visit(panel);
  for (const variable of dashboard.templating.list) {
    const query = typeof variable.query === "string" ? variable.query : variable.query?.query;
    if (variable.name !== "datasource" && query !== undefined) {
      out.push({ where: `variable $${variable.name}`, expr: query });
    }
  }
  return out;
}

describe("the Grafana dashboard", () => {
  const dashboard = JSON.parse(readFileSync(file, "utf8")) as Dashboard;
  const exported = new Set<string>(Object.values(clientMetricNames));
  for (const histogram of histogramMetricNames) {
    for (const suffix of ["_bucket", "_sum", "_count"]) exported.add(histogram + suffix);
  }

  it("finds metric names in PromQL the way the check below relies on", () => {
    assert.deepEqual(
      promqlMetricNames(
        'sum by (grpc_code) (rate(a_total{job=~"$job", x!="y"}[$__rate_interval])) / ignoring (grpc_code) group_left sum(rate(b_total[5m] offset 1m)) * 1e3',
      ),
      ["a_total", "b_total"],
    );
    assert.deepEqual(
      promqlMetricNames('histogram_quantile(0.99, sum by (le) (rate(h_bucket{le="+Inf"}[1m])))'),
      ["h_bucket"],
    );
    assert.deepEqual(promqlMetricNames('label_values(up{job="x"}, instance)'), ["up"]);
    assert.deepEqual(promqlMetricNames("min by (endpoint) (g) and on (endpoint) h"), ["g", "h"]);
  });

  it("parses, and every panel has a unique id", () => {
    assert.equal(typeof dashboard.title, "string");
    assert.equal(typeof dashboard.uid, "string");
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length);
  });

  it("refers only to metric names the package exports", () => {
    const all = queries(dashboard);
    assert.ok(all.length >= 10, "the dashboard has queries");
    for (const { where, expr } of all) {
      const names = promqlMetricNames(expr);
      assert.ok(names.length > 0, `${where} selects no metric: ${expr}`);
      for (const name of names)
        assert.ok(exported.has(name), `${where} uses unknown metric ${name}: ${expr}`);
    }
  });

  it("shows request rate, error ratio by code, latency quantiles, watch and lease gauges, endpoint health", () => {
    const used = new Set(queries(dashboard).flatMap(({ expr }) => promqlMetricNames(expr)));
    const wanted = [
      clientMetricNames.started,
      clientMetricNames.handled,
      `${clientMetricNames.handlingSeconds}_bucket`,
      clientMetricNames.watches,
      clientMetricNames.watchStreams,
      clientMetricNames.keptLeases,
      `${clientMetricNames.keepAliveRoundTripSeconds}_bucket`,
      clientMetricNames.endpointHealthy,
      clientMetricNames.retries,
      clientMetricNames.reauthentications,
    ];
    for (const name of wanted) assert.ok(used.has(name), `the dashboard shows ${name}`);
    const exprs = queries(dashboard).map((q) => q.expr);
    assert.ok(exprs.some((e) => /sum by \(grpc_code\)/.test(e) && /grpc_code!="OK"/.test(e)));
    assert.ok(exprs.some((e) => /histogram_quantile\(0\.99,/.test(e)));
  });

  it("uses only metrics createClientMetrics really registers (all histograms on)", () => {
    const registry = new Registry();
    createClientMetrics({ registry, handlingTimeHistogram: true, streamHistograms: true });
    const registered = new Set(registry.getMetricsAsArray().map((m) => m.name));
    for (const { expr } of queries(dashboard)) {
      for (const name of promqlMetricNames(expr)) {
        const base = name.replace(/_(bucket|sum|count)$/, "");
        assert.ok(registered.has(name) || registered.has(base), `${name} is registered`);
      }
    }
  });
});
