// Two tenants with the same key names, and keys just outside both prefixes: through every read,
// delete, txn and lease call, neither tenant sees or touches anything but its own keys.

import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import {
  bytesToText,
  type Client,
  compare,
  createClient,
  EtcdError,
  opDelete,
  opGet,
  opPut,
  opTxn,
  type ResponseOp,
} from "@etcd-connect/client";
import { type Namespace, namespace } from "@etcd-connect/namespace";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { bytes, entriesOf, keysOf } from "./helpers.js";

const tenantKeys = ["config", "jobs/1", "jobs/2", "users/x"];
// Neighbours of both prefixes: the bare tenant names, the prefix ends ("tenants/a0" is where a
// from-key read of tenant a must stop), a third tenant, and keys at both ends of the keyspace.
const outsideKeys = ["tenants/a", "tenants/a0", "tenants/b", "tenants/b0", "tenants/c/config", "aaa", "zzz"];

function rangeKeys(op: ResponseOp | undefined): string[] | undefined {
  return op?.response.case === "responseRange" ? keysOf(op.response.value.kvs) : undefined;
}

describe("two tenants with the same key names", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  let a: Namespace;
  let b: Namespace;

  before(async () => {
    etcd = await startEtcd();
    client = createClient({ endpoints: [etcd.clientUrl] });
    a = namespace(client, "tenants/a/");
    b = namespace(client, "tenants/b/");
  });
  after(async () => {
    await client?.close();
    await etcd?.close();
  });

  beforeEach(async () => {
    await client.delete("", { prefix: true });
    for (const key of tenantKeys) {
      await a.put(key, `a-${key}`);
      await b.put(key, `b-${key}`);
    }
    for (const key of outsideKeys) await client.put(key, "outside");
  });

  /** Every key of the cluster, to prove what a tenant's call left alone. */
  async function everything(): Promise<string[]> {
    return keysOf((await client.get("", { prefix: true })).kvs);
  }

  describe("get", () => {
    it("a single key", async () => {
      assert.equal(await a.getText("config"), "a-config");
      assert.equal(await b.getText("config"), "b-config");
      assert.equal(await a.getText("missing"), undefined);
    });

    it("a prefix", async () => {
      const res = await a.get("jobs/", { prefix: true });
      assert.deepEqual(entriesOf(res.kvs), ["jobs/1=a-jobs/1", "jobs/2=a-jobs/2"]);
      assert.equal(res.count, 2n);
    });

    it("from a key on stops at the end of the tenant", async () => {
      const res = await a.get("jobs/", { fromKey: true });
      assert.deepEqual(keysOf(res.kvs), ["jobs/1", "jobs/2", "users/x"]);
      assert.equal(res.count, 3n);
      assert.deepEqual(keysOf((await b.get("users/", { fromKey: true })).kvs), ["users/x"]);
    });

    it("all keys, as an empty prefix or from the first key", async () => {
      for (const options of [{ prefix: true }, { fromKey: true }]) {
        const res = await a.get("", options);
        assert.deepEqual(
          entriesOf(res.kvs),
          tenantKeys.map((k) => `${k}=a-${k}`),
        );
        assert.equal(res.count, 4n);
      }
      const counted = await b.get("", { prefix: true, countOnly: true });
      assert.equal(counted.count, 4n);
    });

    it("a range, with sorting and limits passed through", async () => {
      const res = await a.get("config", { rangeEnd: "users/", sortOrder: "descend", limit: 2 });
      assert.deepEqual(keysOf(res.kvs), ["jobs/2", "jobs/1"]);
      assert.equal(res.more, true);
    });

    it("refuses the empty key, as the client does", async () => {
      await assert.rejects(a.get(""), (e) => EtcdError.is(e, "invalid_argument"));
      await assert.rejects(a.put("", "v"), (e) => EtcdError.is(e, "invalid_argument"));
      await assert.rejects(a.delete(""), (e) => EtcdError.is(e, "invalid_argument"));
      assert.equal(await client.getText("tenants/a/"), undefined);
    });
  });

  describe("put and delete", () => {
    it("put returns the tenant's previous key-value", async () => {
      const res = await a.put("config", "new", { prevKv: true });
      assert.deepEqual(entriesOf(res.prevKv ? [res.prevKv] : []), ["config=a-config"]);
      assert.equal(await b.getText("config"), "b-config");
    });

    it("a prefix delete", async () => {
      const res = await a.delete("jobs/", { prefix: true, prevKv: true });
      assert.equal(res.deleted, 2n);
      assert.deepEqual(entriesOf(res.prevKvs), ["jobs/1=a-jobs/1", "jobs/2=a-jobs/2"]);
      assert.deepEqual(keysOf((await b.get("jobs/", { prefix: true })).kvs), ["jobs/1", "jobs/2"]);
    });

    it("a from-key delete stops at the end of the tenant", async () => {
      const before = await everything();
      const res = await a.delete("jobs/", { fromKey: true, prevKv: true });
      assert.equal(res.deleted, 3n);
      assert.deepEqual(keysOf(res.prevKvs), ["jobs/1", "jobs/2", "users/x"]);
      const gone = ["tenants/a/jobs/1", "tenants/a/jobs/2", "tenants/a/users/x"];
      assert.deepEqual(
        await everything(),
        before.filter((key) => !gone.includes(key)),
      );
    });

    it("deleting every key of a tenant leaves the rest of the cluster", async () => {
      const res = await b.delete("", { prefix: true });
      assert.equal(res.deleted, 4n);
      assert.deepEqual(
        await everything(),
        [...tenantKeys.map((k) => `tenants/a/${k}`), ...outsideKeys].sort(),
      );
    });
  });

  describe("txn", () => {
    it("compares read the tenant's own keys", async () => {
      // Tenant b's value would pass this compare; tenant a's does not.
      const res = await a
        .txn()
        .if(compare.value("config", "=", "b-config"))
        .then(opPut("config", "hijacked"))
        .else(opGet("config"))
        .commit();
      assert.equal(res.succeeded, false);
      assert.deepEqual(rangeKeys(res.responses[0]), ["config"]);
      assert.equal(await a.getText("config"), "a-config");
      assert.equal(await b.getText("config"), "b-config");
    });

    it("range compares cover only the tenant's keys", async () => {
      await b.put("only-b/1", "x");
      // Every key under "only-b/" of tenant a has version 0: there are none.
      const res = await a
        .txn()
        .if(
          compare.version("only-b/", "=", 0, { prefix: true }),
          compare.version("", ">", 0, { fromKey: true }),
        )
        .then(opPut("claimed", "yes"))
        .commit();
      assert.equal(res.succeeded, true);
      assert.equal(await a.getText("claimed"), "yes");
      assert.equal(await b.getText("claimed"), undefined);
    });

    it("ops, nested txns included, read and write the tenant's keys and come back stripped", async () => {
      const before = await everything();
      const res = await a
        .txn()
        .if(compare.value("config", "=", "a-config"))
        .then(
          opPut("config", "changed", { prevKv: true }),
          opTxn(
            [compare.version("jobs/", ">", 0, { prefix: true })],
            [opDelete("jobs/", { prefix: true, prevKv: true }), opGet("", { fromKey: true, keysOnly: true })],
          ),
        )
        .commit();
      assert.equal(res.succeeded, true);
      const [put, nested] = res.responses;
      assert.equal(
        put?.response.case === "responsePut" &&
          bytesToText(put.response.value.prevKv?.key ?? new Uint8Array()),
        "config",
      );
      assert.ok(nested?.response.case === "responseTxn");
      assert.equal(nested.response.value.succeeded, true);
      const [deleted, read] = nested.response.value.responses;
      assert.deepEqual(
        deleted?.response.case === "responseDeleteRange" && keysOf(deleted.response.value.prevKvs),
        ["jobs/1", "jobs/2"],
      );
      // etcd applies the nested ops in order: the read sees the delete, and no other tenant.
      assert.deepEqual(rangeKeys(read), ["config", "users/x"]);
      assert.deepEqual(
        await everything(),
        before.filter((key) => key !== "tenants/a/jobs/1" && key !== "tenants/a/jobs/2"),
      );
      assert.equal(await b.getText("config"), "b-config");
    });

    it("from-key and all-keys ops in a txn stay in the tenant", async () => {
      const res = await b
        .txn()
        .then(opGet("users/", { fromKey: true }), opDelete("", { prefix: true, prevKv: true }))
        .commit();
      assert.deepEqual(rangeKeys(res.responses[0]), ["users/x"]);
      const deleted = res.responses[1]?.response;
      assert.deepEqual(deleted?.case === "responseDeleteRange" && keysOf(deleted.value.prevKvs), tenantKeys);
      assert.deepEqual(keysOf((await a.get("", { prefix: true })).kvs), tenantKeys);
      assert.equal(
        (await client.get("", { prefix: true })).count,
        BigInt(tenantKeys.length + outsideKeys.length),
      );
    });
  });

  describe("lease", () => {
    it("timeToLive lists only the tenant's keys, stripped", async () => {
      const { ID } = await a.lease.grant(60);
      try {
        await a.put("leased", "1", { lease: ID });
        await b.put("leased", "2", { lease: ID });
        await client.put("outside/leased", "3", { lease: ID });
        const names = async (ns: Namespace | Client) =>
          (await ns.lease.timeToLive(ID, { keys: true })).keys.map(bytesToText).sort();
        assert.deepEqual(await names(a), ["leased"]);
        assert.deepEqual(await names(b), ["leased"]);
        assert.deepEqual(await names(client), ["outside/leased", "tenants/a/leased", "tenants/b/leased"]);
        const withoutKeys = await a.lease.timeToLive(ID);
        assert.ok(withoutKeys.TTL > 0n);
        assert.deepEqual(withoutKeys.keys, []);
      } finally {
        await client.lease.revoke(ID);
      }
    });
  });
});

describe("prefixes ending in 0xff", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;

  before(async () => {
    etcd = await startEtcd();
    client = createClient({ endpoints: [etcd.clientUrl] });
  });
  after(async () => {
    await client?.close();
    await etcd?.close();
  });

  it("a carried prefix end keeps out the key the carry produces", async () => {
    const prefix = bytes("p", 0xff);
    // "q" is what "p\xff" carries to; Go's namespace ends such ranges at "q\x00", which lets it in.
    for (const key of [bytes("p"), bytes("p", 0xfe), bytes("q"), bytes("q", 0), bytes("p", 0xff, "k")]) {
      await client.put(key, "v");
    }
    const ns = namespace(client, prefix);
    assert.deepEqual(keysOf((await ns.get("", { prefix: true })).kvs), ["k"]);
    assert.deepEqual(keysOf((await ns.get("a", { fromKey: true })).kvs), ["k"]);
    assert.equal((await ns.delete("", { fromKey: true })).deleted, 1n);
    assert.equal((await client.get("", { prefix: true })).count, 4n);
    await client.delete("", { prefix: true });
  });

  it("a prefix of only 0xff bytes runs to the end of the keyspace and no further back", async () => {
    const prefix = bytes(0xff, 0xff);
    for (const key of [
      bytes(0xff),
      bytes(0xfe, 0xff, 0xff),
      bytes(0xff, 0xff, "k"),
      bytes(0xff, 0xff, 0xff),
    ]) {
      await client.put(key, "v");
    }
    const ns = namespace(client, prefix);
    const all = await ns.get("", { prefix: true });
    assert.deepEqual(
      all.kvs.map((kv) => [...kv.key]),
      [[0x6b], [0xff]],
    );
    // A prefix read whose own end carries to "\0" ends at the namespace's end, here the keyspace's.
    assert.deepEqual(
      (await ns.get(bytes(0xff), { prefix: true })).kvs.map((kv) => [...kv.key]),
      [[0xff]],
    );
    const res = await ns
      .txn()
      .then(opDelete("", { fromKey: true }))
      .commit();
    assert.equal(
      res.responses[0]?.response.case === "responseDeleteRange" && res.responses[0].response.value.deleted,
      2n,
    );
    assert.deepEqual(
      (await client.get("", { prefix: true })).kvs.map((kv) => [...kv.key]),
      [[0xfe, 0xff, 0xff], [0xff]],
    );
    await client.delete("", { prefix: true });
  });
});
