import { EtcdCluster } from "./cluster.js";
import type { ClusterOptions } from "./etcd-options.js";
import { resolveOptions } from "./etcd-options.js";
import { launchMembers } from "./launch-members.js";

/**
 * Starts an etcd cluster of `size` members (default 3) on 127.0.0.1, with a fault proxy in front of every
 * client and peer port by default, and resolves once every member is healthy and knows the leader.
 *
 * @throws {EtcdNotFoundError} When no etcd binary is found.
 * @throws {EtcdStartError} When the cluster is not healthy within `startupTimeoutMs`; carries the log tail
 *   of every member that was not healthy. Everything started is killed first.
 *
 * @example
 * await using cluster = await startCluster();
 * const leader = await cluster.leader();
 * cluster.isolate(leader);
 */
export async function startCluster(options: ClusterOptions = {}): Promise<EtcdCluster> {
  const launched = await launchMembers(resolveOptions(options, 3));
  return new EtcdCluster(launched);
}
