import { createClient } from "@etcd-connect/client";
import { startEtcd } from "@etcd-connect/testing";

const etcd = await startEtcd();
const value = "x".repeat(256);
try {
  const ours = createClient({ endpoints: [etcd.clientUrl] });
  let stop = Date.now() + 1500;
  await Promise.all(
    Array.from({ length: 128 }, async () => {
      while (Date.now() < stop) await ours.put(`k/${Math.floor(Math.random() * 10000)}`, value);
    }),
  );
  const { Session } = await import("node:inspector/promises");
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  const c0 = process.cpuUsage();
  let ops = 0;
  stop = Date.now() + 4000;
  await Promise.all(
    Array.from({ length: 128 }, async () => {
      while (Date.now() < stop) {
        await ours.put(`k/${Math.floor(Math.random() * 10000)}`, value);
        ops++;
      }
    }),
  );
  const c = process.cpuUsage(c0);
  const { profile } = await session.post("Profiler.stop");
  const { writeFileSync, mkdirSync } = await import("node:fs");
  mkdirSync(".scratch/prof2", { recursive: true });
  writeFileSync(".scratch/prof2/p.cpuprofile", JSON.stringify(profile));
  console.log("ops/s", ops / 4, "us/op", (c.user + c.system) / ops);
  await ours.close();
} finally {
  await etcd.close();
}
