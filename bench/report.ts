import { readFile, writeFile } from "node:fs/promises";
import type { Rival } from "./bench-client.js";
import { type BenchResults, goNotAvailable } from "./results.js";
import type { Run, Spread, Verdict } from "./stats.js";
import { type MetricSpec, type Target, workloads } from "./workloads.js";

const startMarker = "<!-- results:start -->";
const endMarker = "<!-- results:end -->";

/** A number with exactly `digits` decimals and thousands separators. */
export function formatNumber(value: number, digits: number): string {
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** How each rival is named in the table and chart. */
export const rivalLabels: Record<Rival, string> = { etcd3: "etcd3", go: "Go" };

// A cell without a figure says why: "–" when the client did not run or does not take this
// figure (goroutine stacks are Go's alone), "failed" when every round failed, "n/a" when its
// rounds could not take it (no event delivered, say).
function formatSpread(value: Spread | undefined, metric: MetricSpec, runs: readonly Run[]): string {
  if (value === undefined) {
    if (runs.length > 0 && runs.every((run) => "error" in run)) return "failed";
    return runs.some((run) => "metrics" in run && metric.id in run.metrics) ? "n/a" : "–";
  }
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

/** "≥ 2x etcd3" for a ratio target, "ours ≤ 8 KB" for an absolute one. */
export function formatTarget(target: Target): string {
  const op = target.op === ">=" ? "≥" : "≤";
  return target.on === "ratio"
    ? `${op} ${target.value}x ${rivalLabels[target.vs]}`
    : `ours ${op} ${target.value} ${target.unit ?? ""}`.trim();
}

/** "PASS", "FAIL", or "n/a" when there was nothing to judge. */
export function formatVerdict(verdict: Verdict): string {
  return verdict.pass === undefined ? "n/a" : verdict.pass ? "PASS" : "FAIL";
}

// In the table a FAIL stands out.
function verdictCell(verdict: Verdict): string {
  const text = formatVerdict(verdict);
  return text === "FAIL" ? "**FAIL**" : text;
}

/** "2.58x", or "–" when a client has no median. */
export function formatRatio(ratio: number | undefined): string {
  return ratio === undefined ? "–" : `${ratio.toFixed(2)}x`;
}

/** "3 round(s)", or "3 rounds (5 for KV workloads)" when those had more. */
export function roundsText(results: Pick<BenchResults, "rounds" | "kvRounds">): string {
  const { rounds, kvRounds } = results;
  if (kvRounds === undefined || kvRounds === rounds) return `${rounds} round(s)`;
  return `${rounds} rounds (${kvRounds} for KV workloads)`;
}

/** The results as a markdown table, with a line on how and where they were taken. */
export function markdownTable(results: BenchResults): string {
  const specs = new Map(workloads(results.quick).map((w) => [w.id, w.metrics]));
  const m = results.machine;
  // The reason may hold a build's stderr: one line, so the header stays a paragraph.
  const go = m.go.startsWith(goNotAvailable) ? `Go client ${m.go.replace(/\s+/g, " ")}` : `Go ${m.go}`;
  const lines = [
    `Run ${results.startedAt.slice(0, 16).replace("T", " ")} UTC${results.quick ? " (quick mode)" : ""}: ` +
      `${m.cpus} × ${m.cpuModel}, Node ${m.node}, etcd ${m.etcd} (data on tmpfs), etcd3 ${m.etcd3}, ${go}; ` +
      `${roundsText(results)} per client, alternating; load ${m.loadStart.toFixed(2)} → ` +
      `${m.loadEnd.toFixed(2)}; took ${Math.round(results.durationS)} s. ` +
      "Cells: median (min–max over rounds). Ratios: ours/etcd3 and ours/Go of the medians.",
    "",
  ];
  const rows: string[][] = [
    ["workload", "metric", "ours", "etcd3", "Go", "ours/etcd3", "ours/Go", "targets", "pass"],
  ];
  const failures: string[] = [];
  for (const workload of results.workloads) {
    let first = true;
    for (const metric of specs.get(workload.id) ?? []) {
      const s = workload.summary[metric.id];
      if (s === undefined) continue;
      const name = first ? workload.title : "";
      first = false;
      rows.push([
        name,
        metric.label,
        formatSpread(s.ours, metric, workload.runs.ours),
        formatSpread(s.etcd3, metric, workload.runs.etcd3),
        formatSpread(s.go, metric, workload.runs.go),
        formatRatio(s.ratios.etcd3),
        formatRatio(s.ratios.go),
        s.verdicts.map((v) => formatTarget(v.target)).join("; "),
        s.verdicts.map(verdictCell).join("; "),
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
  const verdicts = results.workloads.flatMap((w) => Object.values(w.summary).flatMap((s) => s.verdicts));
  lines.push("", `Targets met: ${verdicts.filter((v) => v.pass === true).length} of ${verdicts.length}.`);
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
