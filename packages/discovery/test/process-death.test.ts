import assert from "node:assert/strict";
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { type Client, createClient } from "@etcd-connect/client";
import { createEndpointManager } from "@etcd-connect/discovery";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { Snapshots, waitFor } from "./helpers.js";

const ttl = 2;
const packageDir = join(import.meta.dirname, "..");

describe(
  `a registration outlives its TTL while its process runs, and goes when it is killed (TTL ${ttl} s)`,
  integrationOptions(),
  () => {
    let etcd: EtcdMember;
    let client: Client;
    let child: ChildProcessWithoutNullStreams | undefined;
    let snapshots: Snapshots | undefined;

    before(async () => {
      etcd = await startEtcd();
      client = createClient({ endpoints: [etcd.clientUrl] });
    });
    after(async () => {
      if (child !== undefined && child.exitCode === null && child.signalCode === null) {
        const exited = once(child, "exit");
        child.kill("SIGKILL");
        await exited;
      }
      await snapshots?.close();
      await client?.close();
      await etcd?.close();
    });

    it("listed while kept alive; removed by etcd after the process is SIGKILLed", async () => {
      const manager = createEndpointManager(client, "death");
      snapshots = new Snapshots(manager);
      assert.equal((await snapshots.next()).endpoints.size, 0);

      const key = "death/node-1";
      const service = spawn(
        process.execPath,
        [
          "--conditions=source",
          "--import",
          "tsx",
          join("test", "fixtures", "register-and-wait.ts"),
          etcd.clientUrl,
          "death",
          key,
          String(ttl),
        ],
        { cwd: packageDir },
      );
      child = service;
      let stderr = "";
      service.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const [line] = (await once(createInterface({ input: service.stdout }), "line")) as [string];
      const lease = BigInt((JSON.parse(line) as { lease: string }).lease);

      const listed = await snapshots.until((s) => s.endpoints.has(key));
      assert.deepEqual(listed.endpoints.get(key), { addr: "10.1.0.1:8080", metadata: { pid: service.pid } });

      // Kept alive: the endpoint is still listed, its lease live, after the TTL ran out twice over.
      const registeredAt = Date.now();
      await waitFor(
        async () => {
          // etcd rounds the time left down to whole seconds: 0 is a live lease with under a second
          // left (a renewal from a busy child can be that late); gone, it reads -1.
          const remaining = (await client.lease.timeToLive(lease)).TTL;
          assert.ok(remaining >= 0n, `the lease ran out while the process lived: ${stderr}`);
          return Date.now() - registeredAt > 2 * ttl * 1000;
        },
        30_000,
        `the registration to outlive ${2 * ttl} s`,
      );
      assert.ok((await manager.list()).has(key));

      const exited = once(service, "exit");
      service.kill("SIGKILL");
      await exited;
      const gone = await snapshots.until((s) => !s.endpoints.has(key));
      assert.deepEqual(gone.updates, [{ op: "delete", key }]);
      assert.equal((await client.lease.timeToLive(lease)).TTL, -1n);
      assert.equal((await manager.list()).size, 0);
    });
  },
);
