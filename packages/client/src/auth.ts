import type { Client as ConnectClient } from "@connectrpc/connect";
import type { Auth as AuthService } from "@etcd-connect/api/etcdserverpb";

/** etcd's auth management API (`client.auth`), as Go's `clientv3.Auth`. */
// biome-ignore lint/suspicious/noEmptyInterface: filled by the Auth facade work.
export interface Auth {}

/** The Auth facade over a generated Connect client. */
export function createAuth(_rpc: ConnectClient<typeof AuthService>): Auth {
  return {};
}
