import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createClient, EtcdError } from "@etcd-connect/client";
import { type EtcdMember, enableAuth, integrationOptions, startEtcd } from "@etcd-connect/testing";

const rootPassword = "root-pw";

describe("auth tokens (server token TTL 1 s)", integrationOptions(), () => {
  let etcd: EtcdMember;
  before(async () => {
    etcd = await startEtcd({ authTokenTtlSeconds: 1 });
    await enableAuth(etcd, { rootPassword });
  });
  after(async () => {
    await etcd?.close();
  });

  it("after 5 s idle, 100 concurrent calls all succeed with at most one re-authentication", async () => {
    let reauthentications = 0;
    await using client = createClient({
      endpoints: [etcd.clientUrl],
      username: "root",
      password: rootPassword,
      observer: {
        onReauthentication: () => reauthentications++,
      },
    });
    await client.put("tok/k", "v");
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const results = await Promise.allSettled(Array.from({ length: 100 }, () => client.get("tok/k")));
    const failed = results.filter((r) => r.status === "rejected");
    console.log(
      `  figure: ${100 - failed.length} of 100 succeeded, ${reauthentications} re-authentication(s)`,
    );
    assert.deepEqual(failed, []);
    assert.ok(reauthentications <= 1, `${reauthentications} re-authentications`);
  });

  it("the snapshot stream carries the token", async () => {
    await using client = createClient({
      endpoints: [etcd.clientUrl],
      username: "root",
      password: rootPassword,
    });
    let bytes = 0;
    for await (const chunk of client.maintenance.snapshot()) bytes += chunk.length;
    assert.ok(bytes > 0);
    await using anonymous = createClient({ endpoints: [etcd.clientUrl] });
    await assert.rejects(
      (async () => {
        for await (const _ of anonymous.maintenance.snapshot());
      })(),
      (e: unknown) => e instanceof EtcdError,
    );
  });
});
