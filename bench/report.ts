import { readFile, writeFile } from "node:fs/promises";
import type { BenchResults } from "./results.js";
import type { Spread } from "./stats.js";
import { type MetricSpec, type Target, workloads } from "./workloads.js";

const startMarker = "<!-- results:start -->";
const endMarker = "<!-- results:end -->";

/** A number with exactly `digits` decimals and thousands separators. */
export function formatNumber(value: number, digits: number): string {
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function formatSpread(value: Spread | undefined, metric: MetricSpec): string {
  if (value === undefined) return "failed";
  const median = formatNumber(value.median, metric.digits);
  if (value.rounds < 2) return median;
  return `${median} (${formatNumber(value.min, metric.digits)}–${formatNumber(value.max, metric.digits)})`;
}

/** Cells padded to their column's width, as the repo's formatter (Biome) writes markdown tables. */
export function alignedTable(rows: string[][]): string[] {
  const widths =
    rows[0]?.map((_, column) => Math.max(3, ...rows.map((row) => row[column]?.length ?? 0))) ?? [];
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  const [header = [], ...body] = rows;
  return [line(header), line(widths.map((width) => "-".repeat(width))), ...body.map(line)];
}

/** "≥ 2x" for a ratio target, "ours ≤ 8 KB" for an absolute one. */
export function formatTarget(target: Target): string {
  const op = target.op === ">=" ? "≥" : "≤";
  return target.on === "ratio"
    ? `${op} ${target.value}x`
    : `ours ${op} ${target.value} ${target.unit ?? ""}`.trim();
}

/** The results as a markdown table, with a line on how and where they were taken. */
export function markdownTable(results: BenchResults): string {
  const specs = new Map(workloads(results.quick).map((w) => [w.id, w.metrics]));
  const m = results.machine;
  const lines = [
    `Run ${results.startedAt.slice(0, 16).replace("T", " ")} UTC${results.quick ? " (quick mode)" : ""}: ` +
      `${m.cpus} × ${m.cpuModel}, Node ${m.node}, etcd ${m.etcd} (data on tmpfs), etcd3 ${m.etcd3}; ` +
      `${results.rounds} round(s) per client, alternating; load ${m.loadStart.toFixed(2)} → ` +
      `${m.loadEnd.toFixed(2)}; took ${Math.round(results.durationS)} s. ` +
      "Cells: median (min–max over rounds). Ratio: ours/etcd3 of the medians.",
    "",
  ];
  const rows: string[][] = [
    ["workload", "metric", "ours (median, spread)", "etcd3 (median, spread)", "ratio", "target", "pass"],
  ];
  const failures: string[] = [];
  for (const workload of results.workloads) {
    let first = true;
    for (const metric of specs.get(workload.id) ?? []) {
      const s = workload.summary[metric.id];
      if (s === undefined) continue;
      const ratio = s.ratio === undefined ? "–" : `${s.ratio.toFixed(2)}x`;
      const target = s.target === undefined ? "" : formatTarget(s.target);
      const pass =
        s.pass === undefined ? (s.target === undefined ? "" : "n/a") : s.pass ? "PASS" : "**FAIL**";
      const name = first ? workload.title : "";
      first = false;
      rows.push([
        name,
        metric.label,
        formatSpread(s.ours, metric),
        formatSpread(s.etcd3, metric),
        ratio,
        target,
        pass,
      ]);
    }
    for (const [client, runs] of Object.entries(workload.runs)) {
      for (const run of runs) {
        if ("error" in run) {
          const reason = run.error.split("\n")[0] ?? run.error;
          failures.push(`- ${workload.id}, ${client}, round ${run.round}: ${reason}`);
        }
      }
    }
  }
  lines.push(...alignedTable(rows));
  const targeted = results.workloads.flatMap((w) => Object.values(w.summary)).filter((s) => s.target);
  lines.push("", `Targets met: ${targeted.filter((s) => s.pass === true).length} of ${targeted.length}.`);
  if (failures.length > 0) lines.push("", "Failed runs:", "", ...failures);
  return `${lines.join("\n")}\n`;
}

/** Replaces the block between the results markers of a README with the table. */
export async function updateReadme(path: string, table: string): Promise<boolean> {
  const text = await readFile(path, "utf8");
  const start = text.indexOf(startMarker);
  const end = text.indexOf(endMarker);
  if (start === -1 || end < start) return false;
  const updated = `${text.slice(0, start + startMarker.length)}\n\n${table}\n${text.slice(end)}`;
  await writeFile(path, updated);
  return true;
}
