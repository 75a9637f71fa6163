import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

/** User + system CPU of this process so far, in microseconds. */
export function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/** The highest resident set size this process has had, in MB. */
export function peakRssMb(): number {
  // VmHWM, the high-water mark of this process's own memory. Not getrusage's maxRSS: Linux keeps
  // it across exec, so a worker would report its parent's RSS at the fork when that was larger
  // (the orchestrator's, with TypeScript loaded, is over 70 MB).
  const status = readFileSync("/proc/self/status", "utf8");
  const kb = /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1];
  return kb === undefined ? process.resourceUsage().maxRSS / 1024 : Number(kb) / 1024;
}

/** The value at quantile `q` (0..1) of an ascending array; NaN when empty. */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

/** Collects garbage (workers run with --expose-gc) so memory readings hold live data only. */
export async function settle(): Promise<{ rss: number; heapUsed: number }> {
  const gc = globalThis.gc;
  if (gc === undefined) throw new Error("run the worker with --expose-gc");
  gc();
  await sleep(50);
  gc();
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heapUsed };
}
