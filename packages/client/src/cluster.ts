import type { Client as ConnectClient } from "@connectrpc/connect";
import type { Cluster as ClusterService } from "@etcd-connect/api/etcdserverpb";

/** etcd's membership API (`client.cluster`), as Go's `clientv3.Cluster`. */
// biome-ignore lint/suspicious/noEmptyInterface: filled by the Cluster facade work.
export interface Cluster {}

/** The Cluster facade over a generated Connect client. */
export function createCluster(_rpc: ConnectClient<typeof ClusterService>): Cluster {
  return {};
}
