import { Gauge } from "prom-client";
import type { MetricsRegistry } from "./client-metrics-options.js";
import { registeredMetric } from "./registered-metric.js";

/** One series a {@link GaugeSource} reports. */
export interface GaugeSample {
  labels: Record<string, string>;
  value: number;
}

/** Reports one client's current series of a gauge; read at each scrape. */
export type GaugeSource = () => Iterable<GaugeSample>;

/** Definition of a {@link sharedGauge}. */
export interface SharedGaugeDefinition {
  name: string;
  help: string;
  labelNames: readonly string[];
  /** How the sources' values of one series combine: "sum" (counts) or "min" (health: 0 wins). */
  combine: "sum" | "min";
}

/** A gauge whose value is computed from every attached source at scrape time. */
export interface SharedGauge {
  /** Attaches a source; the returned function detaches it. */
  attach(source: GaugeSource): () => void;
}

// A property on the gauge object rather than a module-level map, so that copies of this package
// that share a registry also share the sources of the gauges they reuse.
const sourcesKey = Symbol.for("@etcd-connect/prometheus.gauge-sources");

/**
 * A gauge that several clients (each with its own `createClientMetrics`) can share through one
 * registry: each attaches a source reporting its own state, and every scrape combines them.
 * Each client keeps absolute counts, so a missed event never leaves the gauge off for good.
 */
export function sharedGauge(registry: MetricsRegistry, definition: SharedGaugeDefinition): SharedGauge {
  const combine =
    definition.combine === "sum" ? (a: number, b: number) => a + b : (a: number, b: number) => Math.min(a, b);
  const collect = function (this: Gauge) {
    const sources = (this as unknown as Record<symbol, Set<GaugeSource> | undefined>)[sourcesKey];
    const series = new Map<string, GaugeSample>();
    for (const source of sources ?? []) {
      for (const sample of source()) {
        const key = labelKey(sample.labels);
        const seen = series.get(key);
        series.set(key, {
          labels: sample.labels,
          value: seen === undefined ? sample.value : combine(seen.value, sample.value),
        });
      }
    }
    this.reset();
    for (const { labels, value } of series.values()) this.set(labels, value);
  };
  const gauge = registeredMetric(registry, Gauge, {
    name: definition.name,
    help: definition.help,
    labelNames: definition.labelNames,
    collect,
  });
  const holder = gauge as unknown as Record<symbol, Set<GaugeSource> | undefined>;
  let sources = holder[sourcesKey];
  if (sources === undefined) {
    if ((gauge as { collect?: unknown }).collect !== collect) {
      throw new Error(`${definition.name} is already registered by another library`);
    }
    sources = new Set();
    Object.defineProperty(gauge, sourcesKey, { value: sources });
  }
  const attached = sources;
  return {
    attach(source) {
      // Wrapped so that attaching the same function twice still gives two entries.
      const entry: GaugeSource = () => source();
      attached.add(entry);
      return () => {
        attached.delete(entry);
      };
    },
  };
}

function labelKey(labels: Record<string, string>): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
