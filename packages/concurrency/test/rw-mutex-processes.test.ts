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
  `RWMutex contended by ${contenders + 1} processes, one SIGKILLed while writing`,
  integrationOptions(),
  () => {
    let etcd: EtcdMember;
    let client: Client;
    let dir: string;
    const workers: LineProcess[] = [];

    before(async () => {
      etcd = await startEtcd();
      client = createClient({ endpoints: [etcd.clientUrl] });
      dir = mkdtempSync(join(tmpdir(), "etcd-connect-rw-"));
    });
    after(async () => {
      for (const worker of workers) await worker.kill();
      await client?.close();
      await etcd?.close();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    it("one writer or many readers; the killed writer's lock passes on only when its lease expires", async () => {
      const log = join(dir, "sections.log");
      const name = "procs/rw";
      const counter = "procs/rw-counter";
      await client.put(counter, "0");
      const start = (role: string, args: Record<string, string | number>) => {
        const worker = startWorker(etcd.clientUrl, role, { ttl: contenderTtl, ...args, name, log, gate: 1 });
        workers.push(worker);
        return worker;
      };
      const victim = start("rw-victim", { id: "victim", ttl: victimTtl });
      // Contender i writes in the rounds where (i + round) % 3 is 0 and reads in the others.
      const others = Array.from({ length: contenders }, (_, id) =>
        start("rw-contender", { id, rounds, counter }),
      );
      const expiredAt = await killHolderWhileQueued(client, victim, others, `${name}/`, log);
      for (const worker of others) assert.equal(await worker.exited, 0, worker.stderr);

      const records = readSections(log);
      const { problems, maxReaders } = overlaps(records);
      assert.deepEqual(problems, []);
      const enters = records.filter((r) => r.event === "enter" && r.id !== "victim");
      assert.equal(enters.length, contenders * rounds);
      // Nobody got in before the victim's lease expired: the lock was never handed over early.
      for (const e of enters) {
        assert.ok(BigInt(e.rev ?? 0) >= expiredAt, `${e.id} entered at revision ${e.rev} < ${expiredAt}`);
      }
      const writes = enters.filter((r) => r.mode === "write").length;
      assert.equal(await client.getText(counter), String(writes), "an update was lost: writers overlapped");
      assert.equal((await client.get(`${name}/`, { prefix: true, countOnly: true })).count, 0n);
      console.log(
        `  figure: ${writes} writes, ${enters.length - writes} reads, up to ${maxReaders} readers at once`,
      );
    });
  },
);
