import { setTimeout as sleep } from "node:timers/promises";
import v8 from "node:v8";

/** User + system CPU of this process so far, in microseconds. */
export function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/** The highest resident set size this process has had, in MB. */
export function peakRssMb(): number {
  // maxRSS is in kilobytes.
  return process.resourceUsage().maxRSS / 1024;
}

/** The value at quantile `q` (0..1) of an ascending array; NaN when empty. */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

/**
 * Collects garbage (workers run with --expose-gc) so memory readings hold live data only.
 * `rss` leaves out V8's young generation: after a collection it holds no live objects, and its
 * size follows the recent allocation rate (0 to 48 MB measured here), which would otherwise
 * swamp a per-watcher or per-lease reading.
 */
export async function settle(): Promise<{ rss: number; heapUsed: number }> {
  const gc = globalThis.gc;
  if (gc === undefined) throw new Error("run the worker with --expose-gc");
  gc();
  await sleep(50);
  gc();
  const { rss, heapUsed } = process.memoryUsage();
  const young = v8
    .getHeapSpaceStatistics()
    .filter((space) => space.space_name === "new_space" || space.space_name === "new_large_object_space")
    .reduce((sum, space) => sum + space.physical_space_size, 0);
  return { rss: rss - young, heapUsed };
}
