import type { Registry } from "prom-client";

/**
 * The sum of the series of a metric whose labels include `labels` (0 when none): for a counter
 * `grpc_client_handled_total{grpc_method="Put"}` sums every code. For a histogram, `part`
 * picks `count`, `sum` or `bucket`.
 */
export async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
  part?: "count" | "sum" | "bucket",
): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`${name} is not registered`);
  const { values } = await metric.get();
  const metricName = part === undefined ? undefined : `${name}_${part}`;
  let total = 0;
  for (const v of values) {
    if (metricName !== undefined && (v as { metricName?: string }).metricName !== metricName) continue;
    const own = v.labels as Record<string, string | number | undefined>;
    if (Object.entries(labels).every(([k, value]) => String(own[k]) === value)) total += v.value;
  }
  return total;
}

/** The grpc_* labels of a unary etcd KV method. */
export const kv = (method: string) => ({
  grpc_type: "unary",
  grpc_service: "etcdserverpb.KV",
  grpc_method: method,
});
