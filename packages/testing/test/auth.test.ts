import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  type EtcdMember,
  enableAuth,
  integrationOptions,
  requestJson,
  startEtcd,
} from "@etcd-connect/testing";
import { get, put } from "./support.js";

describe("enableAuth", integrationOptions(), () => {
  let etcd: EtcdMember;

  before(async () => {
    etcd = await startEtcd();
  });

  after(async () => {
    await etcd?.close();
  });

  it("creates root with a password, grants the root role and turns auth on", async () => {
    await put(etcd.clientUrl, "open", "before-auth");
    await enableAuth(etcd, { rootPassword: "s3cret" });
    await assert.rejects(get(etcd.clientUrl, "open"), /user name is empty/);
    await assert.rejects(
      requestJson(`${etcd.clientUrl}/v3/auth/authenticate`, { body: { name: "root", password: "wrong" } }),
      /authentication failed/,
    );
    const { token } = (await requestJson(`${etcd.clientUrl}/v3/auth/authenticate`, {
      body: { name: "root", password: "s3cret" },
    })) as { token: string };
    assert.equal(typeof token, "string");
    assert.equal(await get(etcd.clientUrl, "open", { token }), "before-auth");
    const roles = (await requestJson(`${etcd.clientUrl}/v3/auth/user/get`, {
      body: { name: "root" },
      token,
    })) as {
      roles?: string[];
    };
    assert.deepEqual(roles.roles, ["root"]);
  });

  it("keeps /health and the member's status usable under auth", async () => {
    assert.deepEqual(await requestJson(`${etcd.clientUrl}/health`, { method: "GET" }), { health: "true" });
    assert.equal((await etcd.status()).leader, await etcd.memberId());
  });

  it("fails clearly when root already exists", async () => {
    await assert.rejects(
      enableAuth(etcd, { rootPassword: "again" }),
      /enableAuth: \/v3\/auth\/user\/add failed/,
    );
  });
});
