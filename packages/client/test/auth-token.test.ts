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

  // etcd 3.5+ checks the token on every renewal and refuses the stream once it expired; the
  // keeper then re-authenticates as the watch stream does. (3.4 checks it when the stream opens.)
  it("a lease kept alive for 8 s outlives eight 1 s tokens", { timeout: 60_000 }, async () => {
    await using client = createClient({
      endpoints: [etcd.clientUrl],
      username: "root",
      password: rootPassword,
    });
    const { ID } = await client.lease.grant(3);
    const keeper = client.lease.keepAlive(ID);
    let lost: EtcdError | undefined;
    void keeper.lost.then((e) => {
      lost = e;
    });
    // Renewals come a third of the TTL apart: 8 of them span 8 s, eight token lifetimes.
    let answers = 0;
    for await (const answer of keeper) {
      assert.ok(answer.TTL > 0n);
      if (++answers === 8) break;
    }
    assert.equal(lost, undefined);
    assert.ok((await client.lease.timeToLive(ID)).TTL > 0n);
    await client.lease.revoke(ID);
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
