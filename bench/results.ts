import type { MetricSummary, Runs } from "./stats.js";
import type { WorkloadParams } from "./workloads.js";

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  os: string;
  totalMemoryGb: number;
  node: string;
  etcd: string;
  etcd3: string;
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
  rounds: number;
  machine: MachineInfo;
  workloads: WorkloadResult[];
}
