// PromQL words that are neither metric names nor followed by "(".
const keywords = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "bool",
  "and",
  "or",
  "unless",
  "offset",
  "inf",
  "nan",
]);

/**
 * The metric names a PromQL expression (or a Grafana `label_values(selector, label)` query)
 * selects. Enough of PromQL for dashboards: label matchers, ranges, grouping clauses, strings,
 * numbers and Grafana variables are dropped, and words followed by "(" are functions.
 */
export function promqlMetricNames(expr: string): string[] {
  let rest = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, " ")
    .replace(/\$\{[^}]*\}|\$\w+/g, " ")
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  // label_values(selector, label): only the selector names a metric.
  rest = rest.replace(/\blabel_values\s*\(([^,)]*),[^)]*\)/g, " $1 ");
  const names: string[] = [];
  for (const match of rest.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = match[0];
    const after = rest.slice((match.index ?? 0) + word.length);
    if (/^\s*\(/.test(after) || keywords.has(word.toLowerCase())) continue;
    // Exponents of numbers such as 1e3 start mid-number.
    const before = rest[(match.index ?? 0) - 1] ?? " ";
    if (/[0-9.]/.test(before)) continue;
    names.push(word);
  }
  return names;
}
