import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Client, createClient } from "@etcd-connect/client";
import { ConcurrencyError, type Isolation, runSTM } from "@etcd-connect/concurrency";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { text } from "./helpers.js";

describe("STM", integrationOptions(), () => {
  let etcd: EtcdMember;
  let clients: Client[];
  let client: Client;
  let outsider: Client;

  before(async () => {
    etcd = await startEtcd();
    clients = [1, 2, 3].map(() => createClient({ endpoints: [etcd.clientUrl] }));
    client = clients[0] as Client;
    outsider = clients[2] as Client;
  });
  after(async () => {
    for (const c of clients ?? []) await c.close();
    await etcd?.close();
  });

  it("bank: 8 workers move money between 10 accounts for 5 s; the total never changes", async (t) => {
    const levels: Isolation[] = ["serializable-snapshot", "serializable", "repeatable-reads"];
    const accounts = 10;
    const total = accounts * 100;
    const account = (bank: string, i: number) => `stm-test/${bank}/${String(i).padStart(2, "0")}`;
    const sum = async (bank: string, revision?: bigint) => {
      const res = await client.get(`stm-test/${bank}/`, {
        prefix: true,
        ...(revision === undefined ? {} : { revision }),
      });
      assert.equal(res.kvs.length, accounts);
      return res.kvs.reduce((acc, kv) => acc + Number(text(kv.value)), 0);
    };
    // The one place a test holds a situation for a while: the issue asks for 5 s of contention.
    const stop = AbortSignal.timeout(5_000);

    const runBank = async (isolation: Isolation) => {
      for (let i = 0; i < accounts; i++) await client.put(account(isolation, i), "100");
      let commits = 0;
      let attemptsTotal = 0;
      const bad: string[] = [];
      const worker = async (w: number) => {
        const on = clients[w % 2] as Client;
        while (!stop.aborted) {
          const from = Math.floor(Math.random() * accounts);
          const to = (from + 1 + Math.floor(Math.random() * (accounts - 1))) % accounts;
          const amount = 1 + Math.floor(Math.random() * 20);
          const { response, attempts } = await runSTM(
            on,
            async (stm) => {
              const a = Number(await stm.getText(account(isolation, from)));
              const b = Number(await stm.getText(account(isolation, to)));
              if (a < amount) return;
              stm.put(account(isolation, from), String(a - amount));
              stm.put(account(isolation, to), String(b + amount));
            },
            {
              isolation,
              retries: 10_000,
              ...(w % 2 === 0 ? { prefetch: [account(isolation, from), account(isolation, to)] } : {}),
            },
          );
          commits++;
          attemptsTotal += attempts;
          // Every account at the commit's revision, in one Range.
          const at = response.header?.revision ?? 0n;
          const seen = await sum(isolation, at);
          if (seen !== total) bad.push(`total ${seen} at revision ${at}`);
        }
      };
      await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
      assert.deepEqual(bad, [], isolation);
      assert.equal(await sum(isolation), total, isolation);
      assert.ok(commits > 8, `${isolation}: only ${commits} commits`);
      t.diagnostic(`${isolation}: ${commits} commits, ${attemptsTotal - commits} conflicts retried`);
    };
    await Promise.all(levels.map(runBank));
  });

  it("a conflicting write makes the transaction run again on fresh reads", async () => {
    await client.put("stm-test/retry/k", "1");
    const seen: string[] = [];
    const { result, attempts, response } = await runSTM(client, async (stm) => {
      const v = (await stm.getText("stm-test/retry/k")) ?? "";
      seen.push(v);
      if (stm.attempt === 1) await outsider.put("stm-test/retry/k", "2");
      stm.put("stm-test/retry/k", `${v}+`);
      return v;
    });
    assert.equal(attempts, 2);
    assert.deepEqual(seen, ["1", "2"]);
    assert.equal(result, "2");
    assert.equal(response.succeeded, true);
    assert.equal(await client.getText("stm-test/retry/k"), "2+");
  });

  it("serializable-snapshot also guards keys written blind; serializable does not", async () => {
    const blind = async (isolation: Isolation) => {
      const prefix = `stm-test/blind-${isolation}`;
      await client.put(`${prefix}/read`, "r");
      await client.put(`${prefix}/written`, "0");
      const { attempts } = await runSTM(
        client,
        async (stm) => {
          await stm.get(`${prefix}/read`);
          if (stm.attempt === 1) await outsider.put(`${prefix}/written`, "outsider");
          stm.put(`${prefix}/written`, "stm");
        },
        { isolation },
      );
      return attempts;
    };
    assert.equal(await blind("serializable-snapshot"), 2);
    assert.equal(await blind("serializable"), 1);
  });

  it("serializable reads at the first read's revision; repeatable-reads reads each key when first asked", async () => {
    const firstSeen = async (isolation: Isolation) => {
      const prefix = `stm-test/snapshot-${isolation}`;
      await client.put(`${prefix}/a`, "a0");
      await client.put(`${prefix}/b`, "b0");
      let b: string | undefined;
      await runSTM(
        client,
        async (stm) => {
          await stm.get(`${prefix}/a`);
          if (stm.attempt === 1) await outsider.put(`${prefix}/b`, "b1");
          const value = await stm.getText(`${prefix}/b`);
          if (stm.attempt === 1) b = value;
        },
        { isolation },
      );
      return b;
    };
    assert.equal(await firstSeen("serializable-snapshot"), "b0");
    assert.equal(await firstSeen("serializable"), "b0");
    assert.equal(await firstSeen("repeatable-reads"), "b1");
  });

  it("repeatable-reads returns the same value on every read and conflicts on a changed key", async () => {
    await client.put("stm-test/repeat/k", "v0");
    const reads: (string | undefined)[] = [];
    const { attempts } = await runSTM(
      client,
      async (stm) => {
        reads.push(await stm.getText("stm-test/repeat/k"));
        if (stm.attempt === 1) await outsider.put("stm-test/repeat/k", "v1");
        reads.push(await stm.getText("stm-test/repeat/k"));
      },
      { isolation: "repeatable-reads" },
    );
    assert.deepEqual(reads, ["v0", "v0", "v1", "v1"]);
    assert.equal(attempts, 2);
  });

  it("read-committed checks nothing at commit", async () => {
    await client.put("stm-test/committed/k", "v0");
    const { attempts } = await runSTM(
      client,
      async (stm) => {
        const v = await stm.getText("stm-test/committed/k");
        await outsider.put("stm-test/committed/k", "outsider");
        stm.put("stm-test/committed/other", v ?? "");
      },
      { isolation: "read-committed" },
    );
    assert.equal(attempts, 1);
    assert.equal(await client.getText("stm-test/committed/other"), "v0");
  });

  it("gives up after `retries` conflicts with retries_exhausted, writing nothing", async () => {
    await client.put("stm-test/exhaust/k", "0");
    let runs = 0;
    await assert.rejects(
      runSTM(
        client,
        async (stm) => {
          runs++;
          await stm.get("stm-test/exhaust/k");
          await outsider.put("stm-test/exhaust/k", String(runs));
          stm.put("stm-test/exhaust/mine", "x");
        },
        { retries: 2 },
      ),
      (error) => ConcurrencyError.is(error, "retries_exhausted"),
    );
    assert.equal(runs, 3);
    assert.equal(await client.exists("stm-test/exhaust/mine"), false);
  });

  it("an error thrown by fn aborts the transaction; writes read back; the handle dies with the attempt", async () => {
    await client.put("stm-test/abort/k", "v");
    await assert.rejects(
      runSTM(client, async (stm) => {
        stm.put("stm-test/abort/k", "changed");
        throw new Error("changed my mind");
      }),
      /changed my mind/,
    );
    assert.equal(await client.getText("stm-test/abort/k"), "v");

    let escaped: Parameters<Parameters<typeof runSTM>[1]>[0] | undefined;
    const { result } = await runSTM(client, async (stm) => {
      escaped = stm;
      stm.put("stm-test/abort/json", JSON.stringify({ n: 1 }));
      const own = await stm.getJson<{ n: number }>("stm-test/abort/json");
      stm.delete("stm-test/abort/k");
      return { own, deleted: await stm.get("stm-test/abort/k"), rev: await stm.rev("stm-test/abort/k") };
    });
    assert.deepEqual(result.own, { n: 1 });
    assert.equal(result.deleted, undefined);
    assert.ok(result.rev > 0n);
    assert.equal(await client.exists("stm-test/abort/k"), false);
    assert.throws(
      () => escaped?.put("stm-test/abort/late", "x"),
      (error) => ConcurrencyError.is(error, "stm_finished"),
    );
  });

  it("refuses bad options", async () => {
    await assert.rejects(
      runSTM(client, () => {}, { retries: -1 }),
      (error) => ConcurrencyError.is(error, "invalid_argument"),
    );
    await assert.rejects(
      runSTM(client, () => {}, { isolation: "snapshot" as Isolation }),
      (error) => ConcurrencyError.is(error, "invalid_argument"),
    );
  });
});
