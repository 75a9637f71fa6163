import { formatTarget } from "./report.js";
import type { BenchResults } from "./results.js";
import { workloads } from "./workloads.js";

// Which metrics the chart shows, in workload order; the table has them all.
const charted = new Set([
  "opsPerSec",
  "cpuUsPerOp",
  "p99Ms",
  "eventsPerSec",
  "cpuUsPerEvent",
  "createS",
  "rssKbPerWatcher",
  "rssKbPerLease",
  "cpuMsPer10kKeepAlives",
]);

const width = 1140;
const rowHeight = 24;
const top = 80;
const labelWidth = 370;
const plotX = labelWidth + 10;
const plotWidth = 400;
const textX = plotX + plotWidth + 14;
// A log2 axis from 1/8 to 8, so 0.5x and 2x sit equally far from parity.
const minLog = -3;
const maxLog = 3;

function x(ratio: number): number {
  const log = Math.min(maxLog, Math.max(minLog, Math.log2(ratio)));
  return plotX + (plotWidth * (log - minLog)) / (maxLog - minLog);
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** A hand-written SVG bar chart of ours/etcd3 per workload and metric, with target lines. */
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
      const y = top + row * rowHeight;
      row++;
      const label = `${result.title}: ${metric.label}`;
      rows.push(`<text x="${labelWidth}" y="${y + 16}" text-anchor="end">${escapeXml(label)}</text>`);
      if (s.ratio === undefined) {
        rows.push(`<text x="${textX}" y="${y + 16}">no ratio (a client failed)</text>`);
        continue;
      }
      const favourable = metric.better === "higher" ? s.ratio >= 1 : s.ratio <= 1;
      const colour =
        s.pass === true ? "#2e7d32" : s.pass === false ? "#c62828" : favourable ? "#1565c0" : "#9e9e9e";
      const x0 = Math.min(x(1), x(s.ratio));
      const barWidth = Math.max(1, Math.abs(x(s.ratio) - x(1)));
      rows.push(
        `<rect x="${x0.toFixed(1)}" y="${y + 4}" width="${barWidth.toFixed(1)}" height="${rowHeight - 8}" fill="${colour}"/>`,
      );
      let note = `${s.ratio.toFixed(2)}x`;
      if (s.target !== undefined) {
        if (s.target.on === "ratio") {
          const tx = x(s.target.value).toFixed(1);
          rows.push(
            `<line x1="${tx}" x2="${tx}" y1="${y + 1}" y2="${y + rowHeight - 1}" stroke="#000" stroke-width="2" stroke-dasharray="3 2"/>`,
          );
        } else if (s.ours !== undefined) {
          note += `, ours ${s.ours.median.toFixed(2)} ${s.target.unit ?? ""}`;
        }
        note += `; target ${formatTarget(s.target)}: ${s.pass === undefined ? "n/a" : s.pass ? "PASS" : "FAIL"}`;
      }
      rows.push(`<text x="${textX}" y="${y + 16}">${escapeXml(note)}</text>`);
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
  const title = `@etcd-connect/client vs etcd3 ${m.etcd3}: ratio ours/etcd3 of medians (log scale)`;
  const subtitle = `${results.startedAt.slice(0, 10)}, ${m.cpus} CPUs, Node ${m.node}, etcd ${m.etcd}, medians of ${results.rounds} round(s).`;
  const legend =
    "Dashed: target. Green: pass, red: fail, blue: ours better (no target), grey: ours worse. " +
    "ops/s and events/s: higher is better; the rest: lower.";
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="18" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="10" y="36" font-size="11" fill="#555">${escapeXml(subtitle)}</text>`,
    `<text x="10" y="52" font-size="11" fill="#555">${escapeXml(legend)}</text>`,
    ...axis,
    ...rows,
    "</svg>",
    "",
  ].join("\n");
}
