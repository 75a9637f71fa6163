import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { promisify } from "node:util";
import { AlarmType } from "@etcd-connect/api/etcdserverpb";
import { type Client, createClient, EtcdError, SnapshotVerifier } from "@etcd-connect/client";
import {
  type EtcdCluster,
  type EtcdMember,
  integrationOptions,
  startCluster,
  startEtcd,
} from "@etcd-connect/testing";

const run = promisify(execFile);

// Polls `attempt` until it returns a value other than undefined, at most `timeoutMs`.
async function poll<T>(what: string, timeoutMs: number, attempt: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await attempt();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await delay(100);
  }
}

async function failure(promise: Promise<unknown>): Promise<EtcdError> {
  return promise.then(
    () => assert.fail("expected a failure"),
    (error: unknown) => {
      assert.ok(error instanceof EtcdError, `not an EtcdError: ${String(error)}`);
      return error;
    },
  );
}

// etcdctl (3.4) needs ETCDCTL_API=3; it reads no ETCD_* variables.
async function etcdctl(...args: string[]): Promise<string> {
  const { stdout } = await run("etcdctl", args, { env: { ...process.env, ETCDCTL_API: "3" } });
  return stdout;
}

describe("Maintenance facade against a real 3-member cluster", integrationOptions(), () => {
  let cluster: EtcdCluster;
  let client: Client;
  let dir: string;
  before(async () => {
    [cluster, dir] = await Promise.all([
      startCluster(),
      mkdtemp(join(tmpdir(), "etcd-connect-maintenance-")),
    ]);
    client = createClient({ endpoints: cluster.clientUrls });
  });
  after(async () => {
    await client?.close();
    await cluster?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("status(endpoint) answers from that member", async () => {
    const ids = await Promise.all(cluster.members.map((member) => member.memberId()));
    const statuses = await Promise.all(cluster.members.map((m) => client.maintenance.status(m.clientUrl)));
    assert.deepEqual(
      statuses.map((s) => s.header?.memberId),
      ids,
    );
    for (const s of statuses) {
      assert.ok(ids.includes(s.leader), "every member names a member as leader");
      assert.match(s.version, /^3\./);
      assert.ok(s.dbSize > 0n);
    }
    const elsewhere = await failure(client.maintenance.status("http://127.0.0.1:1"));
    assert.equal(elsewhere.reason, "invalid_argument");
    assert.match(elsewhere.message, /not one of the client's endpoints/);
  });

  it("defragment(endpoint) shrinks that member's database only", async () => {
    // Old revisions of one key, compacted away: free pages that only a defragment gives back.
    const value = new Uint8Array(16 * 1024).fill(7);
    for (let i = 0; i < 100; i++) await client.put("defrag/key", value);
    const revision = (await client.get("defrag/key")).header?.revision ?? assert.fail("no revision");
    await client.compact(revision, { physical: true });
    const [target, other] = cluster.members;
    assert.ok(target && other);
    const sizeOf = async (endpoint: string) => (await client.maintenance.status(endpoint)).dbSize;
    const [targetBefore, otherBefore] = [await sizeOf(target.clientUrl), await sizeOf(other.clientUrl)];
    await client.maintenance.defragment(target.clientUrl);
    const [targetAfter, otherAfter] = [await sizeOf(target.clientUrl), await sizeOf(other.clientUrl)];
    assert.ok(targetAfter < targetBefore / 2n, `${target.name}: ${targetBefore} -> ${targetAfter} bytes`);
    // Its own background compaction may still grow it a little; only a defragment shrinks it.
    assert.ok(otherAfter >= otherBefore, `${other.name}: ${otherBefore} -> ${otherAfter} bytes`);
  });

  it("hash and hashKV answer from the named member; members agree on hashKV", async () => {
    for (let i = 0; i < 20; i++) await client.put(`hash/${i}`, `value-${i}`);
    const revision = (await client.put("hash/last", "x")).header?.revision ?? assert.fail("no revision");
    const hashes: number[] = [];
    for (const member of cluster.members) {
      const id = await member.memberId();
      const whole = await client.maintenance.hash(member.clientUrl);
      assert.equal(whole.header?.memberId, id);
      // A follower may not have applied `revision` yet: it answers future_revision until then.
      const kv = await poll(`${member.name} applies revision ${revision}`, 5000, async () => {
        try {
          return await client.maintenance.hashKV(member.clientUrl, revision);
        } catch (error) {
          if (EtcdError.is(error, "future_revision")) return undefined;
          throw error;
        }
      });
      // (hashRevision is etcd 3.6+; 3.4 leaves it 0.)
      assert.equal(kv.header?.memberId, id);
      hashes.push(kv.hash);
    }
    assert.equal(new Set(hashes).size, 1, `hashKV differs across members: ${hashes.join(", ")}`);
    const later = await client.put("hash/after", "y");
    assert.ok((later.header?.revision ?? 0n) > revision);
    const first = cluster.members[0]?.clientUrl ?? assert.fail("no member");
    assert.equal(
      (await client.maintenance.hashKV(first, revision)).hash,
      hashes[0],
      "the past does not change",
    );
    assert.notEqual((await client.maintenance.hashKV(first)).hash, hashes[0], "new writes change the hash");
  });

  it("moveLeader hands leadership to a follower", async () => {
    const leader = await cluster.leader();
    const follower = cluster.members.find((member) => member !== leader) ?? assert.fail("no follower");
    const target = await follower.memberId();
    await client.maintenance.moveLeader(target);
    await poll("the cluster agrees on the new leader", 10_000, async () =>
      (await cluster.leader()) === follower ? true : undefined,
    );
    const status = await client.maintenance.status(follower.clientUrl);
    assert.equal(status.leader, target);
    assert.equal(status.header?.memberId, target);
  });

  it("alarmList is empty on a healthy cluster", async () => {
    assert.deepEqual((await client.maintenance.alarmList()).alarms, []);
  });

  it("downgrade on etcd 3.4 fails with reason unimplemented and says what it needs", async () => {
    const error = await failure(client.maintenance.downgrade("validate", "3.3"));
    assert.equal(error.reason, "unimplemented");
    assert.match(error.message, /downgrade needs etcd 3\.5 or newer/);
  });

  it("snapshotToFile saves a verified snapshot that etcdctl accepts and restores", async () => {
    const written = await client.put("snapshot/marker", "in the snapshot");
    const path = join(dir, "etcd.db");
    const progress: number[] = [];
    const { size } = await client.maintenance.snapshotToFile(path, {
      onProgress: ({ receivedBytes }) => progress.push(receivedBytes),
      timeoutMs: 30_000,
    });
    assert.equal((await stat(path)).size, size);
    assert.ok(progress.length >= 2, "progress after each chunk, the checksum included");
    assert.equal(progress.at(-1), size);
    assert.deepEqual(await readdir(dir), ["etcd.db"], "no temporary file left");

    const status = JSON.parse(await etcdctl("snapshot", "status", path, "-w", "json")) as {
      revision: number;
      totalKey: number;
      totalSize: number;
    };
    assert.ok(status.revision >= Number(written.header?.revision), `revision ${status.revision}`);
    assert.ok(status.totalKey > 0);
    // The file is the database plus etcd's 32-byte sha256 trailer.
    assert.equal(status.totalSize + 32, size);

    // Restore refuses a snapshot whose trailer does not match: this one must pass.
    const restored = join(dir, "restored");
    await etcdctl("snapshot", "restore", path, `--data-dir=${restored}`);
    await rm(restored, { recursive: true, force: true });

    const verifier = new SnapshotVerifier();
    verifier.update(new Uint8Array(await readFile(path)));
    assert.doesNotThrow(() => verifier.verify());
    await rm(path);
  });

  it("snapshot() streams chunks that verify; breaking out early leaves the client usable", async () => {
    const endpoint = cluster.members[1]?.clientUrl ?? assert.fail("no member");
    let early = 0;
    for await (const chunk of client.maintenance.snapshot({ endpoint })) {
      early += chunk.length;
      break;
    }
    assert.ok(early > 0);
    const verifier = new SnapshotVerifier();
    for await (const chunk of client.maintenance.snapshot({ endpoint })) verifier.update(chunk);
    verifier.verify();
    assert.ok(verifier.bytes > early);
    assert.ok(await client.exists("snapshot/marker"));
  });
});

describe("NOSPACE alarm on a member with a 2 MiB backend quota", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  before(async () => {
    etcd = await startEtcd({ quotaBackendBytes: 2 * 1024 * 1024 });
    client = createClient({ endpoints: [etcd.clientUrl] });
  });
  after(async () => {
    await client?.close();
    await etcd?.close();
  });

  it("a full backend refuses writes, keeps reads, and recovers by compact + defragment + disarm", async () => {
    const id = await etcd.memberId();
    // One key rewritten: its old revisions fill the backend, and compaction frees them all.
    const value = randomBytes(100 * 1024);
    let full: EtcdError | undefined;
    for (let i = 0; i < 200 && full === undefined; i++) {
      try {
        await client.put("big", value);
      } catch (error) {
        if (!EtcdError.is(error, "no_space")) throw error;
        full = error;
      }
    }
    assert.ok(full, "a put failed with no_space within 200 puts of 100 KiB");
    assert.equal(full.indeterminate, false);
    assert.match(full.message, /compact, defragment, then disarm/);

    assert.deepEqual(await client.get("big").then((res) => res.kvs[0]?.value), new Uint8Array(value));
    const armed = await client.maintenance.alarmList();
    assert.deepEqual(
      armed.alarms.map((a) => [a.memberID, a.alarm]),
      [[id, AlarmType.NOSPACE]],
    );

    const revision = (await client.get("big")).header?.revision ?? assert.fail("no revision");
    await client.compact(revision, { physical: true });
    await client.maintenance.defragment(etcd.clientUrl);
    const status = await client.maintenance.status(etcd.clientUrl);
    assert.ok(status.dbSize < 2 * 1024 * 1024, `defragmented to ${status.dbSize} bytes`);
    // The alarm stays until disarmed, whatever the size.
    assert.equal((await failure(client.put("after", "x"))).reason, "no_space");

    const disarmed = await client.maintenance.alarmDisarm();
    assert.deepEqual(
      disarmed.alarms.map((a) => [a.memberID, a.alarm]),
      [[id, AlarmType.NOSPACE]],
    );
    assert.deepEqual((await client.maintenance.alarmList()).alarms, []);
    const put = await client.put("after", "x");
    assert.ok((put.header?.revision ?? 0n) > revision);
  });
});
