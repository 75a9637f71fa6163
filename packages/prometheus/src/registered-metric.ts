import type { Counter, Gauge, Histogram } from "prom-client";
import type { MetricsRegistry } from "./client-metrics-options.js";

type MetricClass = typeof Counter | typeof Gauge | typeof Histogram;

/** What {@link registeredMetric} needs to create a metric, or to check one it reuses. */
export interface MetricDefinition {
  name: string;
  help: string;
  labelNames: readonly string[];
  buckets?: number[];
  /** Runs before each scrape (gauges that compute their value then). */
  collect?: (this: Gauge) => void;
}

/**
 * The metric of this name in the registry, or a new one registered there. Reusing is what lets
 * several clients (each with its own `createClientMetrics`) share a registry: prom-client refuses
 * a second registration of a name. A metric of the same name but another kind or other labels
 * is a conflict and throws.
 *
 * Buckets of a reused histogram are those of its first definition.
 */
export function registeredMetric<C extends MetricClass>(
  registry: MetricsRegistry,
  kind: C,
  definition: MetricDefinition,
): InstanceType<C> {
  const existing = registry.getSingleMetric(definition.name);
  if (existing !== undefined) {
    // Compared by class name, not instanceof, so a metric from another copy of prom-client passes.
    const existingKind = existing.constructor.name;
    if (existingKind !== kind.name) {
      throw new Error(
        `${definition.name} is already registered as a ${existingKind}, not a ${kind.name}: another library uses the name`,
      );
    }
    const labels = [...((existing as { labelNames?: readonly string[] }).labelNames ?? [])].sort();
    const wanted = [...definition.labelNames].sort();
    if (labels.join(",") !== wanted.join(",")) {
      throw new Error(
        `${definition.name} is already registered with labels [${labels.join(", ")}], not [${wanted.join(", ")}]`,
      );
    }
    return existing as InstanceType<C>;
  }
  const config = {
    name: definition.name,
    help: definition.help,
    labelNames: [...definition.labelNames],
    registers: [registry],
    ...(definition.buckets === undefined ? {} : { buckets: definition.buckets }),
    ...(definition.collect === undefined ? {} : { collect: definition.collect }),
  };
  return new (kind as new (config: object) => InstanceType<C>)(config);
}
