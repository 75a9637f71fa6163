import type { EtcdOptions } from "./etcd-options.js";
import { resolveOptions } from "./etcd-options.js";
import { launchMembers } from "./launch-members.js";
import type { EtcdMember } from "./member.js";

/**
 * Starts one etcd member on 127.0.0.1 with free ports and a fresh data dir, and resolves once it is healthy
 * and leader of its own cluster. Close it with `close()` (or `await using`); leftovers are killed when the
 * process exits, even by SIGKILL.
 *
 * Defaults: no fault proxies, plain http, data under `/dev/shm` when available (see {@link EtcdOptions}).
 *
 * @throws {EtcdNotFoundError} When no etcd binary is found.
 * @throws {EtcdStartError} When etcd does not become healthy within `startupTimeoutMs`; carries its log tail.
 *
 * @example
 * const etcd = await startEtcd();
 * after(() => etcd.close());
 * await fetch(`${etcd.clientUrl}/health`);
 */
export async function startEtcd(options: EtcdOptions = {}): Promise<EtcdMember> {
  const launched = await launchMembers(resolveOptions({ ...options, size: 1 }, 1));
  const [member] = launched.members;
  if (member === undefined) throw new Error("startEtcd: no member was started");
  return member;
}
