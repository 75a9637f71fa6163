import type { MetricSummary, Runs } from "./stats.js";
import type { WorkloadParams } from "./workloads.js";

/** How `MachineInfo.go` starts when the bench ran without Go. */
export const goNotAvailable = "not available: ";

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  os: string;
  totalMemoryGb: number;
  node: string;
  etcd: string;
  etcd3: string;
  /** Go's client, as `clientv3 3.4.23 (go1.19.8)`, or `not available: <why>` (then Go has no runs). */
  go: string;
  /** 1-minute load average when the run started and ended: other work on the machine skews figures. */
  loadStart: number;
  loadEnd: number;
}

export interface WorkloadResult {
  id: string;
  title: string;
  params: WorkloadParams;
  runs: Runs;
  summary: Record<string, MetricSummary>;
}

/** What `latest.json` holds. */
export interface BenchResults {
  startedAt: string;
  finishedAt: string;
  durationS: number;
  quick: boolean;
  /** Rounds per client of the workloads other than KV. */
  rounds: number;
  /** Rounds per client of the KV workloads; absent in runs from before they had their own. */
  kvRounds?: number;
  machine: MachineInfo;
  workloads: WorkloadResult[];
}
