import type { ClientName, Rival } from "./bench-client.js";
import type { Metrics, Target, Workload } from "./workloads.js";

/** Median and range of one metric over the rounds. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  rounds: number;
}

/** One target and whether ours met it. */
export interface Verdict {
  target: Target;
  /** Undefined when there is nothing to judge (the rival did not run) or rounds disagree on a bound. */
  pass: boolean | undefined;
}

export interface MetricSummary {
  ours: Spread | undefined;
  etcd3: Spread | undefined;
  go: Spread | undefined;
  /** ours median / the rival's median; undefined when either has no median. */
  ratios: Record<Rival, number | undefined>;
  /** One per target on this metric, in the workload's order; a metric may have several. */
  verdicts: Verdict[];
}

/** One round of one client: its figures, or why it failed. */
export type Run = { round: number; metrics: Metrics } | { round: number; error: string };

/** Every round of every client; a client that did not run (Go not available) has none. */
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

const meets = (target: Target, value: number) =>
  target.op === ">=" ? value >= target.value : value <= target.value;

/**
 * Ratios are judged on the medians. Our absolute targets are bounds on sizes read as differences
 * of whole-process memory, whose noise can be larger than what they measure (a round of RSS per
 * lease reads below zero now and then): such a bound is met only when every round meets it,
 * missed when the median misses it, and n/a when the rounds disagree.
 */
function judge(target: Target, summary: Omit<MetricSummary, "verdicts">): boolean | undefined {
  if (target.on === "ratio") {
    const ratio = summary.ratios[target.vs];
    return ratio === undefined || !Number.isFinite(ratio) ? undefined : meets(target, ratio);
  }
  const { ours } = summary;
  if (ours === undefined) return undefined;
  const worst = target.op === ">=" ? ours.min : ours.max;
  if (meets(target, worst)) return true;
  return meets(target, ours.median) ? undefined : false;
}

/** Per metric: every client's spread, ours' ratio to each rival, and a verdict per target. */
export function summarize(workload: Workload, runs: Runs): Record<string, MetricSummary> {
  const values = (client: ClientName, metric: string) =>
    runs[client].flatMap((run) => ("metrics" in run ? [run.metrics[metric] ?? Number.NaN] : []));
  // A round of ours that failed fails every target: the medians of the others would flatter it.
  const oursFailed = runs.ours.some((run) => "error" in run);
  const summary: Record<string, MetricSummary> = {};
  for (const metric of workload.metrics) {
    const ours = spread(values("ours", metric.id));
    const etcd3 = spread(values("etcd3", metric.id));
    const go = spread(values("go", metric.id));
    const ratio = (theirs: Spread | undefined) =>
      ours !== undefined && theirs !== undefined && theirs.median !== 0
        ? ours.median / theirs.median
        : undefined;
    const figures = { ours, etcd3, go, ratios: { etcd3: ratio(etcd3), go: ratio(go) } };
    const verdicts = workload.targets
      .filter((target) => target.metric === metric.id)
      .map((target) => ({ target, pass: oursFailed ? false : judge(target, figures) }));
    summary[metric.id] = { ...figures, verdicts };
  }
  return summary;
}
