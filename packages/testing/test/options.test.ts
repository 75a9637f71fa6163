import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type EtcdMember, integrationOptions, requestJson, startEtcd } from "@etcd-connect/testing";

describe("EtcdOptions", integrationOptions(), () => {
  let etcd: EtcdMember;

  before(async () => {
    etcd = await startEtcd({
      name: "tuned",
      heartbeatIntervalMs: 50,
      electionTimeoutMs: 500,
      quotaBackendBytes: 64 * 1024 * 1024,
      authTokenTtlSeconds: 60,
      extraArgs: ["--max-txn-ops=2"],
    });
  });

  after(async () => {
    await etcd?.close();
  });

  it("passes timing, quota and token settings to etcd", () => {
    const startup =
      etcd
        .logTail()
        .split("\n")
        .find((line) => line.includes("starting an etcd server")) ?? "";
    assert.match(startup, /"heartbeat-interval":"50ms"/);
    assert.match(startup, /"election-timeout":"500ms"/);
    assert.match(startup, /"quota-backend-bytes":67108864/);
    assert.match(startup, /"initial-cluster-token":"etcd-connect-\d+-\d+-[0-9a-f]+"/);
    // etcd 3.4 does not log the token TTL, so check the command line we noted.
    assert.match(etcd.logTail(), /--auth-token-ttl=60 /);
  });

  it("appends extraArgs: --max-txn-ops=2 rejects a three-op txn", async () => {
    const put = (key: string) => ({ request_put: { key: Buffer.from(key).toString("base64") } });
    await requestJson(`${etcd.clientUrl}/v3/kv/txn`, { body: { success: [put("a"), put("b")] } });
    await assert.rejects(
      requestJson(`${etcd.clientUrl}/v3/kv/txn`, { body: { success: [put("a"), put("b"), put("c")] } }),
      /too many operations in txn request/,
    );
  });

  it("stop() shuts etcd down with SIGTERM and restart() brings it back", async () => {
    await etcd.stop();
    assert.equal(etcd.running, false);
    assert.match(
      etcd.logTail(),
      /sending SIGTERM[\s\S]*received signal; shutting down[\s\S]*exited \(SIGTERM\)/,
    );
    await etcd.restart();
    assert.equal((await etcd.status()).leader, await etcd.memberId());
  });
});
