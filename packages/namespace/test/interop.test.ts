// The key layout is plain concatenation (as Go's clientv3/namespace), nesting joins prefixes,
// and code written against KV (and the client's helpers) runs unchanged on a namespace.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  type Client,
  compare,
  createClient,
  EtcdError,
  getAll,
  type KV,
  opGet,
  opPut,
} from "@etcd-connect/client";
import { namespace } from "@etcd-connect/namespace";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { bytes, entriesOf, keysOf } from "./helpers.js";

/** Increments a counter with compare-and-swap: written for any KV. */
async function increment(kv: KV, key: string): Promise<number> {
  for (;;) {
    const current = await kv.get(key);
    const kv0 = current.kvs[0];
    const next = (kv0 === undefined ? 0 : Number(new TextDecoder().decode(kv0.value))) + 1;
    const res = await kv
      .txn()
      .if(compare.modRevision(key, "=", kv0?.modRevision ?? 0n))
      .then(opPut(key, String(next)))
      .commit();
    if (res.succeeded) return next;
  }
}

describe("namespaces and plain clients share the key layout", integrationOptions(), () => {
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

  it("keys written through a namespace are at prefix + key, and the other way round", async () => {
    const ns = namespace(client, "svc/");
    await ns.put("written-by-ns", "1");
    assert.equal(await client.getText("svc/written-by-ns"), "1");
    await client.put("svc/written-by-plain", "2");
    assert.equal(await ns.getText("written-by-plain"), "2");

    // Binary prefixes and keys are concatenated byte for byte, with nothing in between.
    const binary = namespace(client, bytes(0x00, 0xff, "t"));
    await binary.put(bytes(0xff, 0x00, "k"), "3");
    assert.equal(await client.getText(bytes(0x00, 0xff, "t", 0xff, 0x00, "k")), "3");
    const read = await binary.get(bytes(0xff), { prefix: true });
    assert.deepEqual(
      read.kvs.map((kv) => [...kv.key]),
      [[0xff, 0x00, 0x6b]],
    );
  });

  it("nesting behaves as the joined prefix", async () => {
    const nested = namespace(namespace(client, "org/"), "team/");
    const joined = namespace(client, "org/team/");
    await client.put("org/team", "bare name");
    await client.put("org/team0", "just past the prefix");
    await client.put("org/other/k", "sibling");
    await nested.put("k1", "1");
    await joined.put("k2", "2");
    assert.equal(await client.getText("org/team/k1"), "1");
    for (const ns of [nested, joined]) {
      assert.deepEqual(entriesOf((await ns.get("", { prefix: true })).kvs), ["k1=1", "k2=2"]);
      assert.deepEqual(keysOf((await ns.get("k2", { fromKey: true })).kvs), ["k2"]);
      const res = await ns
        .txn()
        .if(compare.value("k1", "=", "1"))
        .then(opGet("", { fromKey: true }))
        .commit();
      assert.equal(res.succeeded, true);
      const range = res.responses[0]?.response;
      assert.deepEqual(range?.case === "responseRange" && keysOf(range.value.kvs), ["k1", "k2"]);
    }
    const deleted = await nested.delete("", { fromKey: true, prevKv: true });
    assert.deepEqual(keysOf(deleted.prevKvs), ["k1", "k2"]);
    assert.deepEqual(keysOf((await client.get("org/", { prefix: true })).kvs), [
      "org/other/k",
      "org/team",
      "org/team0",
    ]);
  });

  it("nesting under a 0xff prefix behaves as the joined prefix", async () => {
    const nested = namespace(namespace(client, "n/"), bytes(0xff));
    const joined = namespace(client, bytes("n/", 0xff));
    await client.put("n0", "past the outer prefix");
    await client.put("n/", "the outer prefix itself");
    await nested.put("k", "1");
    for (const ns of [nested, joined]) {
      assert.deepEqual(entriesOf((await ns.get("", { fromKey: true })).kvs), ["k=1"]);
    }
    assert.equal(await client.getText(bytes("n/", 0xff, "k")), "1");
  });

  it("code written against KV runs unchanged on a namespace", async () => {
    const a = namespace(client, "counters/a/");
    const b = namespace(client, "counters/b/");
    assert.equal(await increment(client, "hits"), 1);
    assert.equal(await increment(a, "hits"), 1);
    assert.equal(await increment(a, "hits"), 2);
    assert.equal(await increment(b, "hits"), 1);
    assert.equal(await client.getText("counters/a/hits"), "2");
    assert.equal(await client.getText("hits"), "1");
  });

  it("the client's helpers work over a namespace", async () => {
    const ns = namespace(client, "helpers/");
    const other = namespace(client, "helpers0/");
    await ns.put("json", JSON.stringify({ plan: "gold" }));
    assert.deepEqual(await ns.getJson<{ plan: string }>("json"), { plan: "gold" });
    assert.equal(await ns.exists("json"), true);
    assert.equal(await other.exists("json"), false);

    for (let i = 0; i < 5; i++) {
      await ns.put(`page/${i}`, String(i));
      await other.put(`page/${i}`, "other tenant");
    }
    for (const pages of [ns.getAll("page/", { pageSize: 2 }), getAll(ns, "", { pageSize: 2 })]) {
      const keys: string[] = [];
      for await (const page of pages) {
        assert.ok(page.kvs.length <= 2);
        keys.push(...keysOf(page.kvs));
      }
      assert.deepEqual(
        keys.filter((key) => key.startsWith("page/")),
        [0, 1, 2, 3, 4].map((i) => `page/${i}`),
      );
      assert.ok(keys.every((key) => key === "json" || key.startsWith("page/")));
    }
  });

  it("compact passes through: revisions are global", async () => {
    const ns = namespace(client, "compact/");
    const first = await ns.put("k", "1");
    await ns.put("k", "2");
    const revision = first.header?.revision ?? 0n;
    await ns.compact(revision + 1n);
    await assert.rejects(client.get("compact/k", { revision }), (e) => EtcdError.is(e, "compacted"));
    await assert.rejects(ns.get("k", { revision }), (e) => EtcdError.is(e, "compacted"));
  });

  it("an empty prefix is refused", () => {
    assert.throws(
      () => namespace(client, ""),
      (e) => EtcdError.is(e, "invalid_argument"),
    );
  });
});
