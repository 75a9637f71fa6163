import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Permission_Type } from "@etcd-connect/api/authpb";
import { bytesToText, type Client, createClient, EtcdError } from "@etcd-connect/client";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";

const secret = (label: string) => `${label}-${randomBytes(12).toString("hex")}`;
const rootPassword = secret("root");
const readerPassword = secret("reader");
const newReaderPassword = secret("reader-new");
const passwords = [rootPassword, readerPassword, newReaderPassword];

// Everything an error shows (message, stack, causes, own fields) is free of every password.
function assertNoPassword(error: unknown): void {
  const seen = new Set<unknown>();
  for (let e: unknown = error; typeof e === "object" && e !== null && !seen.has(e); ) {
    seen.add(e);
    const text = [
      String(e),
      (e as Error).stack ?? "",
      JSON.stringify(e, (_, v) => (typeof v === "bigint" ? `${v}` : v)),
    ];
    for (const password of passwords) {
      for (const shown of text) assert.ok(!shown.includes(password), `a password appears in: ${shown}`);
    }
    e = (e as { cause?: unknown }).cause;
  }
}

async function failure(promise: Promise<unknown>): Promise<EtcdError> {
  return promise.then(
    () => assert.fail("expected a failure"),
    (error: unknown) => {
      assert.ok(error instanceof EtcdError, `not an EtcdError: ${String(error)}`);
      assertNoPassword(error);
      return error;
    },
  );
}

describe("Auth facade against a real etcd", integrationOptions(), () => {
  let etcd: EtcdMember;
  // `anonymous` has no credentials; `root` and `reader` are created once auth is on.
  let anonymous: Client;
  const clients: Client[] = [];
  const clientAs = (username: string, password: string) => {
    const client = createClient({ endpoints: [etcd.clientUrl], username, password });
    clients.push(client);
    return client;
  };
  let root: Client;
  let hasAuthStatus = false;

  // AuthStatus is etcd 3.5+: on 3.4 the facade must say so.
  async function expectAuthEnabled(client: Client, enabled: boolean): Promise<void> {
    if (hasAuthStatus) {
      assert.equal((await client.auth.authStatus()).enabled, enabled);
      return;
    }
    const error = await failure(client.auth.authStatus());
    assert.equal(error.reason, "unimplemented");
    assert.match(error.message, /authStatus needs etcd 3\.5 or newer/);
  }

  before(async () => {
    etcd = await startEtcd();
    anonymous = createClient({ endpoints: [etcd.clientUrl] });
    clients.push(anonymous);
    const { version } = await anonymous.maintenance.status(etcd.clientUrl);
    hasAuthStatus = !version.startsWith("3.4.");
  });
  after(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await etcd?.close();
  });

  it("enables auth once user root has role root", async () => {
    await expectAuthEnabled(anonymous, false);
    assert.equal((await failure(anonymous.auth.authEnable())).reason, "root_user_not_exist");
    await anonymous.auth.userAdd("root", rootPassword);
    assert.equal((await failure(anonymous.auth.authEnable())).reason, "root_role_not_exist");
    await anonymous.auth.roleAdd("root");
    await anonymous.auth.userGrantRole("root", "root");
    await anonymous.auth.authEnable();

    root = clientAs("root", rootPassword);
    await expectAuthEnabled(root, true);
    assert.ok((await root.auth.authenticate("root", rootPassword)).token.length > 0);
    assert.equal((await failure(anonymous.get("anything"))).reason, "user_empty");
    assert.equal((await failure(anonymous.auth.userList())).reason, "user_empty");
  });

  it("a read-only user reads under its prefix and nothing else, and cannot write", async () => {
    await root.auth.roleAdd("app-reader");
    await root.auth.roleGrantPermission("app-reader", { key: "app/", prefix: true, permType: "read" });
    await root.auth.userAdd("reader", readerPassword);
    await root.auth.userGrantRole("reader", "app-reader");
    await root.put("app/config", "v1");
    await root.put("other/secret", "s");

    const reader = clientAs("reader", readerPassword);
    assert.equal(await reader.getText("app/config"), "v1");
    assert.equal((await reader.get("app/", { prefix: true })).count, 1n);
    assert.equal((await failure(reader.put("app/config", "v2"))).reason, "permission_denied");
    assert.equal((await failure(reader.get("other/secret"))).reason, "permission_denied");
    assert.equal((await failure(reader.auth.userList())).reason, "permission_denied");
    assert.equal(await root.getText("app/config"), "v1", "the refused write changed nothing");
  });

  it("lists and describes users and roles", async () => {
    assert.deepEqual([...(await root.auth.userList()).users].sort(), ["reader", "root"]);
    assert.deepEqual([...(await root.auth.roleList()).roles].sort(), ["app-reader", "root"]);
    assert.deepEqual((await root.auth.userGet("reader")).roles, ["app-reader"]);
    assert.deepEqual((await root.auth.userGet("root")).roles, ["root"]);
    const role = await root.auth.roleGet("app-reader");
    assert.deepEqual(
      role.perm.map((p) => [p.permType, bytesToText(p.key), bytesToText(p.rangeEnd)]),
      [[Permission_Type.READ, "app/", "app0"]],
    );
    assert.equal((await failure(root.auth.userGet("nobody"))).reason, "user_not_found");
    assert.equal((await failure(root.auth.roleGet("nobody"))).reason, "role_not_found");
    assert.equal((await failure(root.auth.userAdd("reader", readerPassword))).reason, "user_already_exists");
    assert.equal((await failure(root.auth.roleAdd("app-reader"))).reason, "role_already_exists");
  });

  it("after userChangePassword the old password fails with auth_failed", async () => {
    const before = clientAs("reader", readerPassword);
    assert.equal(await before.getText("app/config"), "v1");
    await root.auth.userChangePassword("reader", newReaderPassword);

    assert.equal((await failure(root.auth.authenticate("reader", readerPassword))).reason, "auth_failed");
    assert.ok((await root.auth.authenticate("reader", newReaderPassword)).token.length > 0);
    // The change bumps etcd's auth revision: a client holding a token authenticates again.
    assert.equal((await failure(before.get("app/config"))).reason, "auth_failed");
    const stale = clientAs("reader", readerPassword);
    assert.equal((await failure(stale.get("app/config"))).reason, "auth_failed");
    const fresh = clientAs("reader", newReaderPassword);
    assert.equal(await fresh.getText("app/config"), "v1");
  });

  it("revokes permissions and roles, adds a no-password user, deletes users and roles", async () => {
    const reader = clientAs("reader", newReaderPassword);
    assert.equal(await reader.getText("app/config"), "v1");
    await root.auth.roleRevokePermission("app-reader", "app/", { prefix: true });
    assert.deepEqual((await root.auth.roleGet("app-reader")).perm, []);
    assert.equal((await failure(reader.get("app/config"))).reason, "permission_denied");
    const again = await failure(root.auth.roleRevokePermission("app-reader", "app/", { prefix: true }));
    assert.equal(again.reason, "permission_not_granted");

    await root.auth.userRevokeRole("reader", "app-reader");
    assert.deepEqual((await root.auth.userGet("reader")).roles, []);
    assert.equal(
      (await failure(root.auth.userRevokeRole("reader", "app-reader"))).reason,
      "role_not_granted",
    );

    // Such a user can only authenticate with a TLS client certificate.
    await root.auth.userAdd("cert-only", "", { noPassword: true });
    // etcd 3.4 words this refusal outside its error catalogue ("auth: authentication failed,
    // password was given for no password user"), so only the message is certain.
    const noPassword = await failure(root.auth.authenticate("cert-only", readerPassword));
    assert.match(noPassword.message, /authentication failed/);

    await root.auth.userDelete("cert-only");
    await root.auth.userDelete("reader");
    await root.auth.roleDelete("app-reader");
    assert.deepEqual((await root.auth.userList()).users, ["root"]);
    assert.deepEqual((await root.auth.roleList()).roles, ["root"]);
    assert.equal((await failure(root.auth.userDelete("reader"))).reason, "user_not_found");
  });

  it("disables auth: calls without credentials work again", async () => {
    await root.auth.authDisable();
    await expectAuthEnabled(anonymous, false);
    await anonymous.put("open", "again");
    assert.equal(await anonymous.getText("open"), "again");
  });
});
