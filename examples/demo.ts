// The Quick start demo: starts a local etcd with @etcd-connect/testing, puts and gets a key
// through @etcd-connect/client, and stops etcd again, leaving nothing behind.
import { spawnSync } from "node:child_process";
import { createClient } from "@etcd-connect/client";
import { EtcdNotFoundError, findEtcd, startEtcd } from "@etcd-connect/testing";

const installLine = "apt-get install -y etcd-server";

function ensureEtcd(): void {
  try {
    findEtcd();
    return;
  } catch (error) {
    if (!(error instanceof EtcdNotFoundError)) throw error;
  }
  if (process.getuid?.() !== 0) {
    console.error(`etcd is not installed. Install it (as root) with:\n  ${installLine}\nor set ETCD_BIN.`);
    process.exit(1);
  }
  console.log(`etcd is not installed; running: apt-get update && ${installLine}`);
  for (const args of [
    ["update", "-qq"],
    ["install", "-y", "-qq", "etcd-server"],
  ]) {
    const r = spawnSync("apt-get", args, {
      stdio: "inherit",
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
    if (r.status !== 0) {
      console.error(`apt-get ${args.join(" ")} failed; install etcd-server yourself:\n  ${installLine}`);
      process.exit(1);
    }
  }
}

ensureEtcd();
console.log("1. starting a local etcd member on a free loopback port ...");
const etcd = await startEtcd();
try {
  console.log(`   etcd is up at ${etcd.clientUrl}`);
  const client = createClient({ endpoints: [etcd.clientUrl] });
  try {
    console.log('2. put "greeting" = "hello, etcd"');
    const put = await client.put("greeting", "hello, etcd");
    console.log(`   written at revision ${put.header?.revision}`);
    console.log('3. get "greeting"');
    console.log(`   -> ${await client.getText("greeting")}`);
  } finally {
    await client.close();
  }
} finally {
  console.log("4. stopping etcd");
  await etcd.close();
}
console.log("done: no etcd process left behind.");
