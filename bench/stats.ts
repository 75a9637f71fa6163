import type { ClientName } from "./bench-client.js";
import type { Metrics, Target, Workload } from "./workloads.js";

/** Median and range of one metric over the rounds. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  rounds: number;
}

export interface MetricSummary {
  ours: Spread | undefined;
  etcd3: Spread | undefined;
  /** ours median / etcd3 median. */
  ratio: number | undefined;
  target: Target | undefined;
  /** Undefined when there is no target (or no data to judge it). */
  pass: boolean | undefined;
}

/** One round of one client: its figures, or why it failed. */
export type Run = { round: number; metrics: Metrics } | { round: number; error: string };

export type Runs = Record<ClientName, Run[]>;

export function spread(values: readonly number[]): Spread | undefined {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return undefined;
  const mid = Math.floor(finite.length / 2);
  const median =
    finite.length % 2 === 1
      ? (finite[mid] as number)
      : ((finite[mid - 1] as number) + (finite[mid] as number)) / 2;
  return {
    median,
    min: finite[0] as number,
    max: finite[finite.length - 1] as number,
    rounds: finite.length,
  };
}

function judge(target: Target, ours: Spread | undefined, ratio: number | undefined): boolean | undefined {
  const value = target.on === "ratio" ? ratio : ours?.median;
  if (value === undefined || !Number.isFinite(value)) return undefined;
  // Our absolute targets are sizes: a round below zero means the reading's noise is larger than
  // what it measures, and such a median proves nothing either way.
  if (target.on === "ours" && ours !== undefined && ours.min < 0) return undefined;
  return target.op === ">=" ? value >= target.value : value <= target.value;
}

/** Per metric: both clients' spreads, the ratio, and the verdict against its target. */
export function summarize(workload: Workload, runs: Runs): Record<string, MetricSummary> {
  const values = (client: ClientName, metric: string) =>
    runs[client].flatMap((run) => ("metrics" in run ? [run.metrics[metric] ?? Number.NaN] : []));
  const summary: Record<string, MetricSummary> = {};
  for (const metric of workload.metrics) {
    const ours = spread(values("ours", metric.id));
    const etcd3 = spread(values("etcd3", metric.id));
    const ratio =
      ours !== undefined && etcd3 !== undefined && etcd3.median !== 0
        ? ours.median / etcd3.median
        : undefined;
    const target = workload.targets.find((t) => t.metric === metric.id);
    const failed = runs.ours.some((run) => "error" in run);
    const pass = target === undefined ? undefined : failed ? false : judge(target, ours, ratio);
    summary[metric.id] = { ours, etcd3, ratio, target, pass };
  }
  return summary;
}
