import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";

const base64 = (text: string) => Buffer.from(text).toString("base64");

describe("my service", integrationOptions(), () => {
  let etcd: EtcdMember;

  before(async () => {
    etcd = await startEtcd();
  });

  after(() => etcd?.close());

  it("stores and reads a key", async () => {
    const put = await fetch(`${etcd.clientUrl}/v3/kv/put`, {
      method: "POST",
      body: JSON.stringify({ key: base64("greeting"), value: base64("hello") }),
    });
    assert.equal(put.status, 200);
    const range = await fetch(`${etcd.clientUrl}/v3/kv/range`, {
      method: "POST",
      body: JSON.stringify({ key: base64("greeting") }),
    });
    const { kvs } = (await range.json()) as { kvs: { value: string }[] };
    assert.equal(Buffer.from(kvs[0]?.value ?? "", "base64").toString(), "hello");
  });
});
