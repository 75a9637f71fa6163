import { readdirSync, readFileSync } from "node:fs";

const dir = process.argv[2];
const files = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"));
let best;
let size = 0;
for (const f of files) {
  const s = readFileSync(`${dir}/${f}`).length;
  if (s > size) {
    size = s;
    best = f;
  }
}
const p = JSON.parse(readFileSync(`${dir}/${best}`, "utf8"));
const self = new Map();
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const dt = p.timeDeltas;
let total = 0;
const counts = new Map();
p.samples.forEach((id, i) => {
  counts.set(id, (counts.get(id) ?? 0) + (dt[i] ?? 0));
  total += dt[i] ?? 0;
});
for (const [id, t] of counts) {
  const n = byId.get(id);
  const key = `${n.callFrame.functionName || "(anon)"} ${n.callFrame.url.split("/").slice(-2).join("/")}:${n.callFrame.lineNumber}`;
  self.set(key, (self.get(key) ?? 0) + t);
}
const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(process.argv[3] ?? 35));
for (const [k, t] of rows) console.log(((t / total) * 100).toFixed(1).padStart(5), k);
