import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
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
  type RangeResponse,
} from "@etcd-connect/client";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";

const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : bytesToText(b));

describe("KV against a real etcd", integrationOptions(), () => {
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

  it("puts and gets keys as text or bytes, values come back as Uint8Array", async () => {
    const put = await client.put("kv/a", "1");
    assert.ok(put.header && put.header.revision > 0n);
    await client.put(new Uint8Array([0x6b, 0x76, 0x2f, 0x62]), new Uint8Array([0, 255]));
    const a = await client.get("kv/a");
    assert.equal(a.kvs.length, 1);
    assert.ok(a.kvs[0]?.value instanceof Uint8Array);
    assert.equal(text(a.kvs[0]?.value), "1");
    assert.equal(a.kvs[0]?.version, 1n);
    assert.deepEqual([...((await client.get("kv/b")).kvs[0]?.value ?? [])], [0, 255]);
  });

  it("reads prefixes, ranges, from-key, with limit, sort, count and keys-only", async () => {
    for (const k of ["r/1", "r/2", "r/3", "r0"]) await client.put(k, `v${k}`);
    const prefix = await client.get("r/", { prefix: true });
    assert.deepEqual(
      prefix.kvs.map((kv) => text(kv.key)),
      ["r/1", "r/2", "r/3"],
    );
    const range = await client.get("r/1", { rangeEnd: "r/3" });
    assert.deepEqual(
      range.kvs.map((kv) => text(kv.key)),
      ["r/1", "r/2"],
    );
    const fromKey = await client.get("r/3", { fromKey: true });
    assert.deepEqual(fromKey.kvs.map((kv) => text(kv.key)).slice(0, 2), ["r/3", "r0"]);
    const limited = await client.get("r/", { prefix: true, limit: 2 });
    assert.equal(limited.kvs.length, 2);
    assert.equal(limited.more, true);
    assert.equal(limited.count, 3n);
    const desc = await client.get("r/", { prefix: true, sortOrder: "descend", sortTarget: "key" });
    assert.deepEqual(
      desc.kvs.map((kv) => text(kv.key)),
      ["r/3", "r/2", "r/1"],
    );
    const count = await client.get("r/", { prefix: true, countOnly: true });
    assert.equal(count.count, 3n);
    assert.equal(count.kvs.length, 0);
    const keys = await client.get("r/", { prefix: true, keysOnly: true });
    assert.equal(keys.kvs[0]?.value.length, 0);
    const serializable = await client.get("r/1", { serializable: true });
    assert.equal(text(serializable.kvs[0]?.value), "vr/1");
  });

  it("filters on mod and create revisions and reads old revisions", async () => {
    const first = await client.put("rev/x", "old");
    const second = await client.put("rev/x", "new");
    const r1 = first.header?.revision ?? 0n;
    const r2 = second.header?.revision ?? 0n;
    assert.equal(text((await client.get("rev/x", { revision: r1 })).kvs[0]?.value), "old");
    assert.equal((await client.get("rev/", { prefix: true, minModRevision: r2 })).kvs.length, 1);
    assert.equal((await client.get("rev/", { prefix: true, maxModRevision: r1 })).kvs.length, 0);
    assert.equal((await client.get("rev/", { prefix: true, minCreateRevision: r2 })).kvs.length, 0);
    assert.equal((await client.get("rev/", { prefix: true, maxCreateRevision: r1 })).kvs.length, 1);
  });

  it("put returns prevKv and honours ignoreValue", async () => {
    await client.put("p/k", "one");
    const res = await client.put("p/k", "two", { prevKv: true });
    assert.equal(text(res.prevKv?.value), "one");
    await client.put("p/k", "", { ignoreValue: true });
    assert.equal(await client.getText("p/k"), "two");
  });

  it("deletes keys, prefixes and from-key ranges with prevKv", async () => {
    for (const k of ["d/1", "d/2", "d/3"]) await client.put(k, k);
    const one = await client.delete("d/1", { prevKv: true });
    assert.equal(one.deleted, 1n);
    assert.equal(text(one.prevKvs[0]?.value), "d/1");
    const rest = await client.delete("d/", { prefix: true });
    assert.equal(rest.deleted, 2n);
    await client.put("dz/1", "x");
    await client.put("dz/2", "x");
    const from = await client.delete("dz/2", { fromKey: true });
    assert.ok(from.deleted >= 1n);
    assert.equal(await client.exists("dz/1"), true);
    assert.equal(await client.exists("dz/2"), false);
  });

  it("reads text, JSON and existence without hiding the raw response", async () => {
    await client.put("h/json", JSON.stringify({ n: 1 }));
    assert.deepEqual(await client.getJson("h/json"), { n: 1 });
    assert.equal(await client.getText("h/missing"), undefined);
    assert.equal(await client.getJson("h/missing"), undefined);
    assert.equal(await client.exists("h/json"), true);
  });

  it("pages through a prefix with getAll, all pages at one revision", async () => {
    for (let i = 0; i < 25; i++) await client.put(`page/${String(i).padStart(2, "0")}`, String(i));
    const pages: RangeResponse[] = [];
    let sawLater = false;
    for await (const page of client.getAll("page/", { pageSize: 10 })) {
      pages.push(page);
      if (!sawLater) {
        // Written after the first page: pinned pages must not see it.
        await client.put("page/99", "late");
        sawLater = true;
      }
    }
    assert.equal(pages.length, 3);
    const keys = pages.flatMap((p) => p.kvs.map((kv) => text(kv.key)));
    assert.equal(keys.length, 25);
    assert.equal(new Set(keys).size, 25);
    assert.ok(!keys.includes("page/99"));
  });

  // etcd evaluates every compare, nested ones too, before it applies any op.
  it("runs transactions with every compare target and nested txns", async () => {
    const put = await client.put("t/k", "v1");
    const rev = put.header?.revision ?? 0n;
    const ok = await client
      .txn()
      .if(
        compare.value("t/k", "=", "v1"),
        compare.version("t/k", ">", 0),
        compare.modRevision("t/k", "=", rev),
        compare.createRevision("t/k", "=", rev),
        compare.lease("t/k", "=", 0),
        compare.version("t/", ">", 0, { prefix: true }),
      )
      .then(
        opPut("t/k", "v2"),
        opGet("t/k"),
        opTxn([compare.value("t/k", "=", "v1")], [opPut("t/n", "nested")]),
      )
      .else(opDelete("t/k"))
      .commit();
    assert.equal(ok.succeeded, true);
    assert.equal(ok.responses.length, 3);
    const got = ok.responses[1]?.response;
    assert.equal(got?.case, "responseRange");
    assert.equal(got?.case === "responseRange" ? text(got.value.kvs[0]?.value) : undefined, "v2");
    assert.equal(await client.getText("t/n"), "nested");
    const failed = await client
      .txn()
      .if(compare.value("t/k", "!=", "v2"))
      .then(opPut("t/k", "never"))
      .else(opGet("t/k"))
      .commit();
    assert.equal(failed.succeeded, false);
    assert.equal(await client.getText("t/k"), "v2");
    const less = await client
      .txn()
      .if(compare.modRevision("t/k", "<", 1))
      .commit();
    assert.equal(less.succeeded, false);
  });

  it("compacts, after which old revisions answer compacted", async () => {
    const first = await client.put("c/k", "1");
    const second = await client.put("c/k", "2");
    await client.compact(second.header?.revision ?? 0n, { physical: true });
    await assert.rejects(client.get("c/k", { revision: first.header?.revision ?? 0n }), (e: unknown) => {
      assert.ok(e instanceof EtcdError);
      assert.equal(e.reason, "compacted");
      assert.equal(e.etcdMessage, "etcdserver: mvcc: required revision has been compacted");
      return true;
    });
  });

  it("exposes the generated Connect clients on the same transport", async () => {
    const status = await client.rpc.maintenance.status({});
    assert.ok(status.version.startsWith("3."));
    const members = await client.rpc.cluster.memberList({});
    assert.equal(members.members.length, 1);
  });

  it("closes: later calls fail with reason closed", async () => {
    const c = createClient({ endpoints: [etcd.clientUrl] });
    await c.put("close/k", "v");
    await c.close();
    await assert.rejects(c.get("close/k"), (e: unknown) => EtcdError.is(e, "closed"));
  });
});

describe("Txn misuse", () => {
  it("awaiting an uncommitted txn rejects instead of hanging", async () => {
    const client = createClient({ endpoints: ["127.0.0.1:1"] });
    try {
      await assert.rejects(
        (async () => await (client.txn() as unknown as Promise<unknown>))(),
        (e: unknown) => EtcdError.is(e, "invalid_argument") && /commit/.test((e as Error).message),
      );
    } finally {
      await client.close();
    }
  });
});
