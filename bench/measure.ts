import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { getHeapSpaceStatistics } from "node:v8";

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

// Garbage objects of about 1 KB, kept in a small ring so no compiler can leave them unallocated.
const garbageRing: unknown[] = new Array(16);

/**
 * Touches every page of V8's young generation. Its two semi-spaces are committed at their
 * capacity but only become resident as allocation reaches them, and no collection gives them
 * back: between two readings a process that allocated little in between (1,000 kept leases
 * allocate about 300 KB a second, one scavenge in 15 s) adds whatever part of them it has
 * reached by then, not what it keeps. On 2026-12-04, 1,000 leases at TTL 3 s: the young
 * generation's resident size rose from 10.3-10.6 to 11.8-12.4 MB between the two readings of
 * RSS per lease (+3 to +4 KB per added lease against 1.1 KB of heap); with every page touched
 * first it read 16.0 MB at every reading. Garbage that dies at once grows nothing.
 */
function touchYoungGeneration(): void {
  const young = getHeapSpaceStatistics().find((space) => space.space_name === "new_space");
  // Twice its size: allocation fills one semi-space, a scavenge flips them, then the other.
  const bytes = 2 * (young?.space_size ?? 32 * 1024 * 1024) + 1024 * 1024;
  for (let i = 0; i < bytes / 1024; i++) garbageRing[i & 15] = new Array(126);
  garbageRing.fill(undefined);
}

/**
 * Collects garbage (workers run with --expose-gc) so memory readings hold live data only, with
 * the young generation wholly resident at every reading (`touchYoungGeneration`).
 */
export async function settle(): Promise<{ rss: number; heapUsed: number }> {
  const gc = globalThis.gc;
  if (gc === undefined) throw new Error("run the worker with --expose-gc");
  touchYoungGeneration();
  gc();
  await sleep(50);
  gc();
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heapUsed };
}
