import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Client, createClient } from "@etcd-connect/client";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { type LineProcess, startWorker } from "./helpers.js";
import { killHolderWhileQueued, overlaps, readSections } from "./section-log.js";

/** The victim's: short, so the SIGKILLed holder's lock passes on within the test's time. */
const victimTtl = 2;
/**
 * The contenders': long enough that a child stalled on a loaded machine keeps its session (at
 * 2 s, a renewal a second late loses it, and a lost session is a real overlap).
 */
const contenderTtl = 10;
const rounds = 6;
const contenders = 3;

describe(
  `withLock contended by ${contenders + 1} processes, one SIGKILLed inside fn`,
  integrationOptions(),
  () => {
    let etcd: EtcdMember;
    let client: Client;
    let dir: string;
    const workers: LineProcess[] = [];

    before(async () => {
      etcd = await startEtcd();
      client = createClient({ endpoints: [etcd.clientUrl] });
      dir = mkdtempSync(join(tmpdir(), "etcd-connect-with-lock-"));
    });
    after(async () => {
      for (const worker of workers) await worker.kill();
      await client?.close();
      await etcd?.close();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    it("sections never overlap; the killed holder's lock passes on only when its lease expires", async () => {
      const log = join(dir, "sections.log");
      const name = "procs/lock";
      const counter = "procs/lock-counter";
      await client.put(counter, "0");
      const start = (role: string, args: Record<string, string | number>) => {
        const worker = startWorker(etcd.clientUrl, role, { ttl: contenderTtl, ...args, name, log, gate: 1 });
        workers.push(worker);
        return worker;
      };
      const victim = start("lock-victim", { id: "victim", ttl: victimTtl });
      const others = Array.from({ length: contenders }, (_, id) =>
        start("lock-contender", { id, rounds, counter }),
      );
      const expiredAt = await killHolderWhileQueued(client, victim, others, `${name}/`, log);
      for (const worker of others) assert.equal(await worker.exited, 0, worker.stderr);

      const records = readSections(log);
      assert.deepEqual(overlaps(records).problems, []);
      const enters = records.filter((r) => r.event === "enter" && r.id !== "victim");
      assert.equal(enters.length, contenders * rounds);
      for (const e of enters) {
        assert.ok(BigInt(e.rev ?? 0) >= expiredAt, `${e.id} entered at revision ${e.rev} < ${expiredAt}`);
      }
      // Unguarded read-modify-writes: any overlap would have lost an increment.
      assert.equal(await client.getText(counter), String(contenders * rounds));
      // Every withLock deleted its key and revoked its session's lease on the way out.
      assert.equal((await client.get(`${name}/`, { prefix: true, countOnly: true })).count, 0n);
      assert.deepEqual((await client.lease.leases()).leases, []);
    });
  },
);
