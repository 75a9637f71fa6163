import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createClient, EtcdError } from "@etcd-connect/client";
import { type EtcdMember, enableAuth, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { strictlyIncreasing } from "./watch-helpers.js";

const rootPassword = "root-pw";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("watch with authentication (token TTL 1 s)", integrationOptions(), () => {
  let etcd: EtcdMember;
  before(async () => {
    etcd = await startEtcd({ faults: true, authTokenTtlSeconds: 1 });
    await enableAuth(etcd, { rootPassword });
  });
  after(async () => {
    await etcd?.close();
  });

  it("tokens expire while watching and the stream is cut: 0 missed events", async () => {
    await using watching = createClient({
      endpoints: [etcd.clientUrl],
      username: "root",
      password: rootPassword,
    });
    await using writing = createClient({
      endpoints: [etcd.directClientUrl],
      username: "root",
      password: rootPassword,
    });
    const watcher = watching.watch("ta/", { prefix: true });
    await watcher.ready;
    const total = 60;
    const writer = (async () => {
      for (let i = 0; i < total; i++) {
        await writing.put(`ta/${i}`, "v");
        // Cut the watch stream twice, each time well after the 1 s token died.
        if (i === 20 || i === 40) etcd.clientProxy?.reset();
        await sleep(60);
      }
    })();
    const seen: bigint[] = [];
    for await (const batch of watcher) {
      for (const e of batch.events) seen.push(e.kv?.modRevision ?? -1n);
      if (seen.length >= total) break;
    }
    await writer;
    assert.equal(seen.length, total);
    assert.ok(strictlyIncreasing(seen));
  });

  it("a watch outside the user's permissions ends with permission_denied", async () => {
    await using root = createClient({
      endpoints: [etcd.clientUrl],
      username: "root",
      password: rootPassword,
    });
    await root.rpc.auth.roleAdd({ name: "reader" });
    await root.rpc.auth.roleGrantPermission({
      name: "reader",
      perm: {
        permType: 0,
        key: new TextEncoder().encode("pub/"),
        rangeEnd: new TextEncoder().encode("pub0"),
      },
    });
    await root.rpc.auth.userAdd({ name: "alice", password: "alice-pw" });
    await root.rpc.auth.userGrantRole({ user: "alice", role: "reader" });
    await using alice = createClient({
      endpoints: [etcd.clientUrl],
      username: "alice",
      password: "alice-pw",
    });
    const allowed = alice.watch("pub/", { prefix: true });
    await allowed.ready;
    const denied = alice.watch("secret/", { prefix: true });
    await assert.rejects(
      (async () => {
        for await (const _ of denied);
      })(),
      (e: unknown) => {
        assert.ok(EtcdError.is(e, "permission_denied"), String(e));
        return true;
      },
    );
    // The denied watch ends alone; the allowed one goes on.
    await root.put("pub/x", "v");
    for await (const batch of allowed) {
      assert.equal(batch.events.length, 1);
      break;
    }
  });
});
