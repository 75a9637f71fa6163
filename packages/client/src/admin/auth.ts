import { create } from "@bufbuild/protobuf";
import type { Client as ConnectClient } from "@connectrpc/connect";
import { Permission_Type, PermissionSchema, UserAddOptionsSchema } from "@etcd-connect/api/authpb";
import {
  AuthDisableRequestSchema,
  type AuthDisableResponse,
  AuthEnableRequestSchema,
  type AuthEnableResponse,
  AuthenticateRequestSchema,
  type AuthenticateResponse,
  AuthRoleAddRequestSchema,
  type AuthRoleAddResponse,
  AuthRoleDeleteRequestSchema,
  type AuthRoleDeleteResponse,
  AuthRoleGetRequestSchema,
  type AuthRoleGetResponse,
  AuthRoleGrantPermissionRequestSchema,
  type AuthRoleGrantPermissionResponse,
  AuthRoleListRequestSchema,
  type AuthRoleListResponse,
  AuthRoleRevokePermissionRequestSchema,
  type AuthRoleRevokePermissionResponse,
  type Auth as AuthService,
  AuthStatusRequestSchema,
  type AuthStatusResponse,
  AuthUserAddRequestSchema,
  type AuthUserAddResponse,
  AuthUserChangePasswordRequestSchema,
  type AuthUserChangePasswordResponse,
  AuthUserDeleteRequestSchema,
  type AuthUserDeleteResponse,
  AuthUserGetRequestSchema,
  type AuthUserGetResponse,
  AuthUserGrantRoleRequestSchema,
  type AuthUserGrantRoleResponse,
  AuthUserListRequestSchema,
  type AuthUserListResponse,
  AuthUserRevokeRoleRequestSchema,
  type AuthUserRevokeRoleResponse,
} from "@etcd-connect/api/etcdserverpb";
import type { Bytes } from "../bytes.js";
import type { CallOptions } from "../call-options.js";
import { callEtcd } from "../call-options.js";
import { invalidArgument } from "../errors.js";
import { keyRange, type RangeSelector } from "../key-range.js";
import { explainUnimplemented } from "./cluster.js";

/** What a permission allows: reads (range, watch), writes (put, delete, txn writes) or both. */
export type PermissionType = "read" | "write" | "readwrite";

/**
 * A permission to grant: one key, a range `[key, rangeEnd)`, every key under a prefix
 * (`prefix: true`) or every key from `key` on (`fromKey: true`); at most one selector.
 */
export interface PermissionGrant extends RangeSelector {
  /** The key, or the start of the range or prefix. */
  key: Bytes;
  /** The operations allowed. */
  permType: PermissionType;
}

/**
 * etcd's auth management API (`client.auth`), as Go's `clientv3.Auth`.
 *
 * Once auth is enabled, every call needs a user with the `root` role: create the client with
 * `username`/`password` (or a `token`). Passwords are sent as given (use TLS) and never appear
 * in error messages or logs.
 *
 * @example
 * await client.auth.roleAdd("reader");
 * await client.auth.roleGrantPermission("reader", { key: "app/", prefix: true, permType: "read" });
 * await client.auth.userAdd("alice", "s3cret");
 * await client.auth.userGrantRole("alice", "reader");
 * console.log((await client.auth.userGet("alice")).roles); // ["reader"]
 */
export interface Auth {
  /** Enables auth; needs user `root` with role `root` (`root_user_not_exist`, `root_role_not_exist`). */
  authEnable(options?: CallOptions): Promise<AuthEnableResponse>;
  /** Disables auth; needs a `root` client while auth is on. */
  authDisable(options?: CallOptions): Promise<AuthDisableResponse>;
  /** Whether auth is enabled, and the auth store's revision. etcd 3.5+; 3.4 fails with `unimplemented`. */
  authStatus(options?: CallOptions): Promise<AuthStatusResponse>;
  /**
   * Checks a user's password and returns a token (`auth_failed` when wrong). The client does
   * this itself when given `username`/`password`; use this to check credentials.
   */
  authenticate(name: string, password: string, options?: CallOptions): Promise<AuthenticateResponse>;
  /**
   * Adds a user. The password must not be empty, unless `noPassword` (default: false; etcd
   * 3.4+) creates a user that can only authenticate with a TLS client certificate: then pass "".
   */
  userAdd(
    name: string,
    password: string,
    options?: { noPassword?: boolean } & CallOptions,
  ): Promise<AuthUserAddResponse>;
  /** A user's roles; `user_not_found` when there is no such user. */
  userGet(name: string, options?: CallOptions): Promise<AuthUserGetResponse>;
  /** Every user name. */
  userList(options?: CallOptions): Promise<AuthUserListResponse>;
  /** Deletes a user. */
  userDelete(name: string, options?: CallOptions): Promise<AuthUserDeleteResponse>;
  /**
   * Sets a new (non-empty) password. Like every auth change it bumps etcd's auth revision, so
   * clients authenticate again on their next call: one still given the old password then
   * fails with `auth_failed`.
   */
  userChangePassword(
    name: string,
    password: string,
    options?: CallOptions,
  ): Promise<AuthUserChangePasswordResponse>;
  /** Grants a role to a user. */
  userGrantRole(user: string, role: string, options?: CallOptions): Promise<AuthUserGrantRoleResponse>;
  /** Takes a role from a user (`role_not_granted` when it had none). */
  userRevokeRole(user: string, role: string, options?: CallOptions): Promise<AuthUserRevokeRoleResponse>;
  /** Adds a role. */
  roleAdd(name: string, options?: CallOptions): Promise<AuthRoleAddResponse>;
  /** A role's permissions; `role_not_found` when there is no such role. */
  roleGet(name: string, options?: CallOptions): Promise<AuthRoleGetResponse>;
  /** Every role name. */
  roleList(options?: CallOptions): Promise<AuthRoleListResponse>;
  /** Deletes a role (and takes it from every user). */
  roleDelete(name: string, options?: CallOptions): Promise<AuthRoleDeleteResponse>;
  /** Grants a role access to a key, range or prefix. */
  roleGrantPermission(
    role: string,
    permission: PermissionGrant,
    options?: CallOptions,
  ): Promise<AuthRoleGrantPermissionResponse>;
  /**
   * Revokes a permission. The key and selector must resolve to the range exactly as granted
   * (`permission_not_granted` otherwise); the permission type does not matter.
   */
  roleRevokePermission(
    role: string,
    key: Bytes,
    options?: RangeSelector & CallOptions,
  ): Promise<AuthRoleRevokePermissionResponse>;
}

const permissionTypes = {
  read: Permission_Type.READ,
  write: Permission_Type.WRITE,
  readwrite: Permission_Type.READWRITE,
} as const;

/** The Auth facade over a generated Connect client. */
export function createAuth(rpc: ConnectClient<typeof AuthService>): Auth {
  return {
    authEnable: (options) =>
      callEtcd(options, (call) => rpc.authEnable(create(AuthEnableRequestSchema), call)),
    authDisable: (options) =>
      callEtcd(options, (call) => rpc.authDisable(create(AuthDisableRequestSchema), call)),
    authStatus: (options) =>
      callEtcd(options, async (call) => {
        try {
          return await rpc.authStatus(create(AuthStatusRequestSchema), call);
        } catch (error) {
          throw explainUnimplemented(error, "authStatus", "3.5");
        }
      }),
    authenticate: (name, password, options) =>
      callEtcd(options, (call) =>
        rpc.authenticate(
          create(AuthenticateRequestSchema, {
            name: checkName("user", name),
            password: checkPassword(password),
          }),
          call,
        ),
      ),
    userAdd: (name, password, options) =>
      callEtcd(options, (call) => {
        const noPassword = options?.noPassword ?? false;
        if (noPassword && password !== "") {
          throw invalidArgument("userAdd: a user with noPassword takes no password; pass an empty string");
        }
        return rpc.userAdd(
          create(AuthUserAddRequestSchema, {
            name: checkName("user", name),
            password: noPassword ? "" : checkPassword(password),
            options: create(UserAddOptionsSchema, { noPassword }),
          }),
          call,
        );
      }),
    userGet: (name, options) =>
      callEtcd(options, (call) =>
        rpc.userGet(create(AuthUserGetRequestSchema, { name: checkName("user", name) }), call),
      ),
    userList: (options) => callEtcd(options, (call) => rpc.userList(create(AuthUserListRequestSchema), call)),
    userDelete: (name, options) =>
      callEtcd(options, (call) =>
        rpc.userDelete(create(AuthUserDeleteRequestSchema, { name: checkName("user", name) }), call),
      ),
    userChangePassword: (name, password, options) =>
      callEtcd(options, (call) =>
        rpc.userChangePassword(
          create(AuthUserChangePasswordRequestSchema, {
            name: checkName("user", name),
            password: checkPassword(password),
          }),
          call,
        ),
      ),
    userGrantRole: (user, role, options) =>
      callEtcd(options, (call) =>
        rpc.userGrantRole(
          create(AuthUserGrantRoleRequestSchema, {
            user: checkName("user", user),
            role: checkName("role", role),
          }),
          call,
        ),
      ),
    userRevokeRole: (user, role, options) =>
      callEtcd(options, (call) =>
        rpc.userRevokeRole(
          create(AuthUserRevokeRoleRequestSchema, {
            name: checkName("user", user),
            role: checkName("role", role),
          }),
          call,
        ),
      ),
    roleAdd: (name, options) =>
      callEtcd(options, (call) =>
        rpc.roleAdd(create(AuthRoleAddRequestSchema, { name: checkName("role", name) }), call),
      ),
    roleGet: (name, options) =>
      callEtcd(options, (call) =>
        rpc.roleGet(create(AuthRoleGetRequestSchema, { role: checkName("role", name) }), call),
      ),
    roleList: (options) => callEtcd(options, (call) => rpc.roleList(create(AuthRoleListRequestSchema), call)),
    roleDelete: (name, options) =>
      callEtcd(options, (call) =>
        rpc.roleDelete(create(AuthRoleDeleteRequestSchema, { role: checkName("role", name) }), call),
      ),
    roleGrantPermission: (role, permission, options) =>
      callEtcd(options, (call) =>
        rpc.roleGrantPermission(
          create(AuthRoleGrantPermissionRequestSchema, {
            name: checkName("role", role),
            perm: permissionOf(permission),
          }),
          call,
        ),
      ),
    roleRevokePermission: (role, key, options) =>
      callEtcd(options, (call) => {
        const range = keyRange(key, selectorOf(options));
        return rpc.roleRevokePermission(
          create(AuthRoleRevokePermissionRequestSchema, {
            role: checkName("role", role),
            key: range.key,
            rangeEnd: range.rangeEnd,
          }),
          call,
        );
      }),
  };
}

function checkName(kind: "user" | "role", name: string): string {
  if (typeof name !== "string" || name.length === 0) {
    throw invalidArgument(`${kind} name must be a non-empty string`);
  }
  return name;
}

// The message never includes the value: it is a password.
function checkPassword(password: string): string {
  if (typeof password !== "string" || password.length === 0) {
    throw invalidArgument("password must be a non-empty string");
  }
  return password;
}

function permissionOf(permission: PermissionGrant) {
  if (typeof permission !== "object" || permission === null) {
    throw invalidArgument("permission must be an object: { key, permType, prefix? | rangeEnd? | fromKey? }");
  }
  // An own-property lookup, so "toString" and the like are not taken for a type.
  const permType = Object.hasOwn(permissionTypes, permission.permType)
    ? permissionTypes[permission.permType]
    : undefined;
  if (permType === undefined) {
    throw invalidArgument(
      `permType must be "read", "write" or "readwrite", got ${JSON.stringify(permission.permType)}`,
    );
  }
  const range = keyRange(permission.key, selectorOf(permission));
  return create(PermissionSchema, { permType, key: range.key, rangeEnd: range.rangeEnd });
}

// Only the selector fields, and only those given (exactOptionalPropertyTypes).
function selectorOf(options: RangeSelector | undefined): RangeSelector {
  const selector: RangeSelector = {};
  if (options?.prefix !== undefined) selector.prefix = options.prefix;
  if (options?.rangeEnd !== undefined) selector.rangeEnd = options.rangeEnd;
  if (options?.fromKey !== undefined) selector.fromKey = options.fromKey;
  return selector;
}
