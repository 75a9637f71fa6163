import type { EtcdMember } from "./member.js";
import { requestJson } from "./request-json.js";

/** Options for {@link enableAuth}. */
export interface EnableAuthOptions {
  /** Password for the `root` user that is created. */
  rootPassword: string;
  /** Bound for each of the three requests. Default: `5000`. */
  timeoutMs?: number;
}

/**
 * Turns on etcd authentication the way an operator would: adds user `root` with `rootPassword`, grants it
 * role `root` (which etcd creates on demand) and enables auth, through the member's JSON gateway
 * (`/v3/auth/user/add`, `/v3/auth/user/grant`, `/v3/auth/enable`). Afterwards every KV request needs a
 * token or a client certificate with CN `root`. Works on a single member or any member of a cluster.
 *
 * @throws When a request fails, e.g. because user `root` already exists.
 */
export async function enableAuth(member: EtcdMember, options: EnableAuthOptions): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const call = async (path: string, body: unknown) => {
    try {
      await requestJson(`${member.directClientUrl}${path}`, { body, tls: member.clientTls, timeoutMs });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`enableAuth: ${path} failed: ${reason}`, { cause: error });
    }
  };
  await call("/v3/auth/user/add", { name: "root", password: options.rootPassword });
  await call("/v3/auth/user/grant", { user: "root", role: "root" });
  await call("/v3/auth/enable", {});
}
