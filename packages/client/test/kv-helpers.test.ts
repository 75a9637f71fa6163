import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Interceptor } from "@connectrpc/connect";
import { bytesToText, type Client, createClient, EtcdError, getFirst, getLast } from "@etcd-connect/client";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";

// getFirst / getLast (Go's WithFirstKey, WithLastCreate, ...) and getAllText / getAllJson.

const keyOf = (kv: { key: Uint8Array } | undefined) => (kv === undefined ? undefined : bytesToText(kv.key));

describe("getFirst and getLast", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  const ranges: Array<{ limit: bigint; sortOrder: number; sortTarget: number }> = [];
  const spy: Interceptor = (next) => (req) => {
    if (req.method.name === "Range") {
      const { limit, sortOrder, sortTarget } = req.message as unknown as (typeof ranges)[number];
      ranges.push({ limit, sortOrder, sortTarget });
    }
    return next(req);
  };
  let revisionBeforeUpdate = 0n;
  before(async () => {
    etcd = await startEtcd();
    client = createClient({ endpoints: [etcd.clientUrl], interceptors: [spy] });
    // Created b, a, c in that order; b modified last.
    await client.put("fl/b", "1");
    await client.put("fl/a", "1");
    revisionBeforeUpdate = (await client.put("fl/c", "1")).header?.revision ?? 0n;
    await client.put("fl/b", "2");
    await client.put("other", "outside the prefix");
  });
  after(async () => {
    await client?.close();
    await etcd?.close();
  });

  it("orders by key, creation or modification revision", async () => {
    assert.equal(keyOf(await client.getFirst("fl/")), "fl/a");
    assert.equal(keyOf(await client.getLast("fl/")), "fl/c");
    assert.equal(keyOf(await client.getFirst("fl/", { by: "create" })), "fl/b");
    assert.equal(keyOf(await client.getLast("fl/", { by: "create" })), "fl/c");
    assert.equal(keyOf(await client.getFirst("fl/", { by: "mod" })), "fl/a");
    const last = await client.getLast("fl/", { by: "mod" });
    assert.equal(keyOf(last), "fl/b");
    assert.equal(bytesToText(last?.value ?? new Uint8Array()), "2");
  });

  it("reads one key: limit 1, and no sort for the first key, which etcd returns first anyway", async () => {
    ranges.length = 0;
    await client.getFirst("fl/");
    await client.getLast("fl/", { by: "create" });
    assert.deepEqual(ranges, [
      { limit: 1n, sortOrder: 0, sortTarget: 0 }, // NONE, KEY
      { limit: 1n, sortOrder: 2, sortTarget: 2 }, // DESCEND, CREATE
    ]);
  });

  it("takes a revision, keysOnly, and an empty prefix for every key; answers undefined for none", async () => {
    assert.equal(keyOf(await client.getLast("fl/", { by: "mod", revision: revisionBeforeUpdate })), "fl/c");
    const keyOnly = await client.getFirst("fl/", { keysOnly: true });
    assert.equal(keyOnly?.value.length, 0);
    assert.equal(keyOf(await client.getLast("")), "other");
    assert.equal(await client.getFirst("nothing-here/"), undefined);
    // The helpers work over any KV, as getText does.
    assert.equal(keyOf(await getFirst(client, "fl/", { by: "create" })), "fl/b");
    assert.equal(keyOf(await getLast(client, "fl/")), "fl/c");
  });

  it("refuses an unknown order before anything is sent", async () => {
    ranges.length = 0;
    await assert.rejects(
      client.getFirst("fl/", { by: "value" as "key" }),
      (error: unknown) => EtcdError.is(error, "invalid_argument") && /by must be/.test(error.message),
    );
    assert.deepEqual(ranges, []);
  });
});

describe("getAllText and getAllJson", integrationOptions(), () => {
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

  it("collects a prefix into a Map of text, in key order, across pages at one revision", async () => {
    for (const n of [3, 1, 2, 5, 4]) await client.put(`text/${n}`, `value ${n}`);
    const pages: number[] = [];
    const all = await client.getAllText("text/", { pageSize: 2 });
    assert.deepEqual(
      [...all],
      [1, 2, 3, 4, 5].map((n) => [`text/${n}`, `value ${n}`]),
    );
    for await (const page of client.getAll("text/", { pageSize: 2 })) pages.push(page.kvs.length);
    assert.deepEqual(pages, [2, 2, 1], "the same read is three pages");
    assert.equal((await client.getAllText("none/")).size, 0);
  });

  it("parses JSON values into a typed Map", async () => {
    await client.put("json/w1", JSON.stringify({ host: "a", port: 1 }));
    await client.put("json/w2", JSON.stringify({ host: "b", port: 2 }));
    const workers = await client.getAllJson<{ host: string; port: number }>("json/");
    assert.deepEqual(
      [...workers.values()].map((w) => w.port),
      [1, 2],
    );
    assert.equal(workers.get("json/w2")?.host, "b");
  });

  it("names the key whose value is not JSON", async () => {
    await client.put("badjson/x", "{not json");
    await assert.rejects(client.getAllJson("badjson/"), (error: unknown) => {
      assert.ok(error instanceof SyntaxError, String(error));
      assert.match(error.message, /"badjson\/x" is not JSON/);
      return true;
    });
  });

  it("refuses a key that is not UTF-8 text instead of merging it with another", async () => {
    await client.put(new Uint8Array([0x62, 0x69, 0x6e, 0x2f, 0xff]), "v"); // "bin/" + 0xff
    await client.put(new Uint8Array([0x62, 0x69, 0x6e, 0x2f, 0xfe]), "w"); // "bin/" + 0xfe
    await assert.rejects(client.getAllText("bin/"), (error: unknown) => {
      assert.ok(EtcdError.is(error, "invalid_argument"), String(error));
      assert.match(error.message, /0x62696e2ffe is not UTF-8 text; read binary keys with getAll/);
      return true;
    });
  });
});
