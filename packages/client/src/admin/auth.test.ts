import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, type Client as ConnectClient, ConnectError } from "@connectrpc/connect";
import { Permission_Type } from "@etcd-connect/api/authpb";
import type {
  AuthRoleGrantPermissionRequest,
  AuthRoleRevokePermissionRequest,
  Auth as AuthService,
  AuthUserAddRequest,
} from "@etcd-connect/api/etcdserverpb";
import { bytesToText } from "../bytes.js";
import { EtcdError } from "../errors.js";
import { type Auth, createAuth, type PermissionType } from "./auth.js";

const password = "correct-horse-battery-staple";

async function failure(promise: Promise<unknown>): Promise<EtcdError> {
  return promise.then(
    () => assert.fail("expected a failure"),
    (error: unknown) => {
      assert.ok(error instanceof EtcdError, `not an EtcdError: ${String(error)}`);
      return error;
    },
  );
}

// Every Auth method records its request and answers with `answer`.
function fakeAuth(answer: () => unknown = () => ({})): {
  auth: Auth;
  sent: { method: string; request: unknown }[];
} {
  const sent: { method: string; request: unknown }[] = [];
  const rpc = new Proxy(
    {},
    {
      get: (_, method: string) => async (request: unknown) => {
        sent.push({ method, request });
        return answer();
      },
    },
  ) as ConnectClient<typeof AuthService>;
  return { auth: createAuth(rpc), sent };
}

describe("Auth facade (fake RPCs)", () => {
  it("roleGrantPermission resolves prefix, range, from-key and single keys like KV does", async () => {
    const { auth, sent } = fakeAuth();
    await auth.roleGrantPermission("r", { key: "app/", prefix: true, permType: "read" });
    await auth.roleGrantPermission("r", { key: "a", rangeEnd: "c", permType: "write" });
    await auth.roleGrantPermission("r", { key: "z", fromKey: true, permType: "readwrite" });
    await auth.roleGrantPermission("r", { key: "one", permType: "read" });
    const perms = sent.map((s) => (s.request as AuthRoleGrantPermissionRequest).perm);
    assert.deepEqual(
      perms.map((p) => [p?.permType, bytesToText(p?.key ?? new Uint8Array()), [...(p?.rangeEnd ?? [])]]),
      [
        [Permission_Type.READ, "app/", [...new TextEncoder().encode("app0")]],
        [Permission_Type.WRITE, "a", [...new TextEncoder().encode("c")]],
        [Permission_Type.READWRITE, "z", [0]],
        [Permission_Type.READ, "one", []],
      ],
    );
  });

  it("roleRevokePermission sends the same range the grant did", async () => {
    const { auth, sent } = fakeAuth();
    await auth.roleRevokePermission("r", "app/", { prefix: true });
    const request = sent[0]?.request as AuthRoleRevokePermissionRequest;
    assert.equal(bytesToText(request.key), "app/");
    assert.equal(bytesToText(request.rangeEnd), "app0");
  });

  it("userAdd with noPassword sends no password and the option", async () => {
    const { auth, sent } = fakeAuth();
    await auth.userAdd("svc", "", { noPassword: true });
    const request = sent[0]?.request as AuthUserAddRequest;
    assert.equal(request.password, "");
    assert.equal(request.options?.noPassword, true);
  });

  it("bad input is refused before sending, never echoing a password", async () => {
    const { auth, sent } = fakeAuth();
    const errors = await Promise.all([
      failure(auth.userAdd("", password)),
      failure(auth.userAdd("bob", "")),
      failure(auth.userAdd("bob", password, { noPassword: true })),
      failure(auth.authenticate("", password)),
      failure(auth.userChangePassword("bob", "")),
      failure(auth.userGrantRole("bob", "")),
      failure(auth.userRevokeRole("", "r")),
      failure(auth.roleAdd("")),
      failure(auth.roleGet("")),
      failure(auth.roleDelete("")),
      failure(auth.userGet("")),
      failure(auth.userDelete("")),
      failure(auth.roleGrantPermission("r", { key: "k", permType: "admin" as PermissionType })),
      failure(auth.roleGrantPermission("r", { key: "k", permType: "toString" as PermissionType })),
      failure(auth.roleGrantPermission("r", { key: "", permType: "read" })),
      failure(auth.roleGrantPermission("r", { key: "k", prefix: true, rangeEnd: "z", permType: "read" })),
    ]);
    for (const error of errors) {
      assert.equal(error.reason, "invalid_argument", error.message);
      assert.ok(!error.message.includes(password), `password in: ${error.message}`);
    }
    assert.equal(sent.length, 0);
  });

  it("etcd's auth errors keep their reason", async () => {
    const { auth } = fakeAuth(() => {
      throw new ConnectError(
        "etcdserver: authentication failed, invalid user ID or password",
        Code.InvalidArgument,
      );
    });
    const error = await failure(auth.authenticate("bob", password));
    assert.equal(error.reason, "auth_failed");
    assert.ok(!error.message.includes(password));
  });
});
