import { readFileSync } from "node:fs";

const p = JSON.parse(readFileSync(process.argv[2], "utf8"));
const target = process.argv[3];
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const self = new Map();
p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
const agg = new Map();
for (const n of p.nodes) {
  if (n.callFrame.functionName !== target) continue;
  const chain = [];
  let cur = parent.get(n.id);
  for (let d = 0; d < 4 && cur !== undefined; d++) {
    const pn = byId.get(cur);
    chain.push(
      `${pn.callFrame.functionName || "(anon)"}@${pn.callFrame.url.split("/").slice(-1)[0]}:${pn.callFrame.lineNumber}`,
    );
    cur = parent.get(cur);
  }
  const k = chain.join(" < ");
  agg.set(k, (agg.get(k) ?? 0) + (self.get(n.id) ?? 0));
}
for (const [k, v] of [...agg].sort((a, b) => b[1] - a[1]).slice(0, 8))
  console.log((v / 1000).toFixed(1), "ms", k);
