import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createClient, EtcdError } from "@etcd-connect/client";
import { type EtcdMember, enableAuth, integrationOptions, startEtcd } from "@etcd-connect/testing";

const rootPassword = "s3cret-root-pw";

describe("credentials options against an etcd with auth enabled", integrationOptions(), () => {
  let etcd: EtcdMember;
  before(async () => {
    etcd = await startEtcd();
    await enableAuth(etcd, { rootPassword });
  });
  after(async () => {
    await etcd?.close();
  });

  it("username/password: the client authenticates and calls succeed", async () => {
    await using client = createClient({
      endpoints: [etcd.clientUrl],
      username: "root",
      password: rootPassword,
    });
    await client.put("auth/k", "v");
    assert.equal(await client.getText("auth/k"), "v");
  });

  it("a ready token is sent as is", async () => {
    const res = await fetch(`${etcd.directClientUrl}/v3/auth/authenticate`, {
      method: "POST",
      body: JSON.stringify({ name: "root", password: rootPassword }),
    });
    const { token } = (await res.json()) as { token: string };
    await using client = createClient({ endpoints: [etcd.clientUrl], token });
    assert.equal(await client.getText("auth/k"), "v");
  });

  it("no credentials: a clear error that says what to do", async () => {
    await using client = createClient({ endpoints: [etcd.clientUrl] });
    await assert.rejects(client.get("auth/k"), (e: unknown) => {
      assert.ok(EtcdError.is(e, "user_empty"), String(e));
      assert.match((e as Error).message, /authentication enabled.*username and password/);
      return true;
    });
  });

  it("wrong password: auth_failed, not retried, and the password appears in no message or log", async () => {
    const logged: string[] = [];
    const log = (message: string, fields?: Record<string, unknown>) =>
      logged.push(message, JSON.stringify(fields));
    const password = "wrong-password-xyz";
    await using client = createClient({
      endpoints: [etcd.clientUrl],
      username: "root",
      password,
      logger: { debug: log, info: log, warn: log },
    });
    const error = await client.get("auth/k").then(
      () => assert.fail("succeeded"),
      (e: unknown) => e,
    );
    assert.ok(EtcdError.is(error, "auth_failed"), String(error));
    const everything = [String(error), error.stack ?? "", JSON.stringify(error), ...logged].join("\n");
    assert.doesNotMatch(everything, new RegExp(password));
    assert.doesNotMatch(everything, new RegExp(rootPassword));
  });
});
