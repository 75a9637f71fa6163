import { createClient } from "@etcd-connect/client";
import { startEtcd } from "@etcd-connect/testing";

const etcd = await startEtcd();
const value = "x".repeat(256);
try {
  const ours = createClient({ endpoints: [etcd.clientUrl] });
  const stop = Date.now() + 4000;
  let ops = 0;
  await Promise.all(
    Array.from({ length: 128 }, async () => {
      while (Date.now() < stop) {
        await ours.put(`k/${Math.floor(Math.random() * 10000)}`, value);
        ops++;
      }
    }),
  );
  console.log("ops", ops);
  await ours.close();
} finally {
  await etcd.close();
}
