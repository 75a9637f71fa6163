import type { Rival } from "./bench-client.js";
import { formatRatio, formatTarget, formatVerdict, rivalLabels, roundsText } from "./report.js";
import { type BenchResults, goNotAvailable } from "./results.js";
import type { MetricSummary, Verdict } from "./stats.js";
import { type MetricSpec, workloads } from "./workloads.js";

// Which metrics the chart shows, in workload order; the table has them all.
const charted = new Set([
  "opsPerSec",
  "cpuUsPerOp",
  "p99Ms",
  "eventsPerSec",
  "cpuUsPerEvent",
  "createS",
  "rssKbPerWatcher",
  "heapKbPerWatcher",
  "rssKbPerLease",
  "heapKbPerLease",
  "cpuMsPer10kKeepAlives",
]);

const width = 1240;
const rowHeight = 28;
const top = 100;
const labelWidth = 400;
const plotX = labelWidth + 10;
const plotWidth = 400;
const textX = plotX + plotWidth + 14;
// A log2 axis from 1/8 to 8, so 0.5x and 2x sit equally far from parity.
const minLog = -3;
const maxLog = 3;
// Each rival has a bar of its own in a row: etcd3's on top, solid; Go's below, lighter.
const bars: readonly { rival: Rival; offset: number; opacity: number; legend: string }[] = [
  { rival: "etcd3", offset: 3, opacity: 1, legend: "upper bar, solid" },
  { rival: "go", offset: 15, opacity: 0.45, legend: "lower bar, light" },
];
const barHeight = 10;

function x(ratio: number): number {
  const log = Math.min(maxLog, Math.max(minLog, Math.log2(ratio)));
  return plotX + (plotWidth * (log - minLog)) / (maxLog - minLog);
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

// Met if every target on this ratio is, missed if one is; undefined without a judged target.
function ratioPass(verdicts: readonly Verdict[], rival: Rival): boolean | undefined {
  const judged = verdicts.filter(
    (v) => v.target.on === "ratio" && v.target.vs === rival && v.pass !== undefined,
  );
  if (judged.length === 0) return undefined;
  return judged.every((v) => v.pass === true);
}

/** One row: a bar per rival's ratio with its target lines, and a note with the figures. */
function chartRow(y: number, label: string, metric: MetricSpec, s: MetricSummary): string[] {
  const row = [`<text x="${labelWidth}" y="${y + 18}" text-anchor="end">${escapeXml(label)}</text>`];
  for (const { rival, offset, opacity } of bars) {
    const ratio = s.ratios[rival];
    // A size that read below zero (see the README) gives a ratio no log axis can place.
    if (ratio === undefined || !(ratio > 0)) continue;
    const pass = ratioPass(s.verdicts, rival);
    const favourable = metric.better === "higher" ? ratio >= 1 : ratio <= 1;
    const colour =
      pass === true ? "#2e7d32" : pass === false ? "#c62828" : favourable ? "#1565c0" : "#9e9e9e";
    const x0 = Math.min(x(1), x(ratio));
    const barWidth = Math.max(1, Math.abs(x(ratio) - x(1)));
    row.push(
      `<rect x="${x0.toFixed(1)}" y="${y + offset}" width="${barWidth.toFixed(1)}" height="${barHeight}" fill="${colour}" fill-opacity="${opacity}"/>`,
    );
    for (const { target } of s.verdicts) {
      if (target.on !== "ratio" || target.vs !== rival) continue;
      const tx = x(target.value).toFixed(1);
      row.push(
        `<line x1="${tx}" x2="${tx}" y1="${y + offset - 2}" y2="${y + offset + barHeight + 2}" stroke="#000" stroke-width="2" stroke-dasharray="3 2"/>`,
      );
    }
  }
  const ratios = bars.map(({ rival }) => `${rivalLabels[rival]} ${formatRatio(s.ratios[rival])}`).join(", ");
  const absolute = s.verdicts.some((v) => v.target.on === "ours") && s.ours !== undefined;
  const ours = absolute ? `, ours ${s.ours?.median.toFixed(2)}` : "";
  const targets = s.verdicts.map((v) => `${formatTarget(v.target)} ${formatVerdict(v)}`);
  const note = [`${ratios}${ours}`, ...targets].join("; ");
  row.push(`<text x="${textX}" y="${y + 18}" font-size="11">${escapeXml(note)}</text>`);
  return row;
}

/** A hand-written SVG bar chart of ours/etcd3 and ours/Go per workload and metric, with target lines. */
export function chartSvg(results: BenchResults): string {
  const specs = new Map(workloads(results.quick).map((w) => [w.id, w]));
  const rows: string[] = [];
  let row = 0;
  for (const result of results.workloads) {
    const workload = specs.get(result.id);
    for (const metric of workload?.metrics ?? []) {
      if (!charted.has(metric.id)) continue;
      const s = result.summary[metric.id];
      if (s === undefined) continue;
      rows.push(...chartRow(top + row * rowHeight, `${result.title}: ${metric.label}`, metric, s));
      row++;
    }
  }
  const height = top + row * rowHeight + 40;
  const axis: string[] = [];
  for (let log = minLog; log <= maxLog; log++) {
    const tx = x(2 ** log).toFixed(1);
    const label = log < 0 ? `1/${2 ** -log}` : `${2 ** log}`;
    axis.push(
      `<line x1="${tx}" x2="${tx}" y1="${top - 4}" y2="${height - 36}" stroke="${log === 0 ? "#000" : "#ddd"}"/>`,
      `<text x="${tx}" y="${top - 8}" text-anchor="middle">${label}x</text>`,
    );
  }
  const m = results.machine;
  const go = m.go.startsWith(goNotAvailable) ? "Go's clientv3 (not available)" : `Go ${m.go}`;
  const title = `@etcd-connect/client vs etcd3 ${m.etcd3} and ${go}: ratios ours/rival of medians (log scale)`;
  const subtitle =
    `${results.startedAt.slice(0, 10)}, ${m.cpus} CPUs, Node ${m.node}, etcd ${m.etcd}, medians of ${roundsText(results)}.` +
    (m.go.startsWith(goNotAvailable) ? ` Go client ${m.go.replace(/\s+/g, " ")}.` : "");
  const colours =
    "Dashed: a target on that ratio. Green: met, red: missed, blue: ours better (no target), grey: ours worse. " +
    "ops/s, events/s, keys written/s and keepalives/s: higher is better; the rest: lower.";
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="18" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="10" y="36" font-size="11" fill="#555">${escapeXml(subtitle)}</text>`,
    ...bars.flatMap(({ rival, opacity, legend }, i) => [
      `<rect x="${10 + i * 220}" y="45" width="24" height="${barHeight}" fill="#1565c0" fill-opacity="${opacity}"/>`,
      `<text x="${40 + i * 220}" y="54" font-size="11" fill="#555">${legend}: ours/${rivalLabels[rival]}</text>`,
    ]),
    `<text x="10" y="72" font-size="11" fill="#555">${escapeXml(colours)}</text>`,
    ...axis,
    ...rows,
    "</svg>",
    "",
  ].join("\n");
}
