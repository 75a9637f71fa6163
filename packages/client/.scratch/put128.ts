import { createClient } from "@etcd-connect/client";
import { startEtcd } from "@etcd-connect/testing";

const etcd = await startEtcd();
const value = "x".repeat(256);
async function run(name: string, put: (k: string) => Promise<unknown>) {
  // warm-up
  let stop = Date.now() + 1000;
  await Promise.all(
    Array.from({ length: 128 }, async () => {
      while (Date.now() < stop) await put(`k/${Math.floor(Math.random() * 10000)}`);
    }),
  );
  let ops = 0;
  const c0 = process.cpuUsage();
  const t0 = Date.now();
  stop = t0 + 3000;
  await Promise.all(
    Array.from({ length: 128 }, async () => {
      while (Date.now() < stop) {
        await put(`k/${Math.floor(Math.random() * 10000)}`);
        ops++;
      }
    }),
  );
  const c = process.cpuUsage(c0);
  const dt = (Date.now() - t0) / 1000;
  console.log(name, Math.round(ops / dt), "ops/s", ((c.user + c.system) / ops).toFixed(1), "us/op");
}
try {
  const ours = createClient({ endpoints: [etcd.clientUrl] });
  await run("ours", (k) => ours.put(k, value));
  await ours.close();
  const { Etcd3 } = await import("etcd3");
  const e3 = new Etcd3({ hosts: etcd.clientUrl });
  await run("etcd3", (k) => e3.put(k).value(value).exec());
  e3.close();
} finally {
  await etcd.close();
}
