import type { Client as ConnectClient } from "@connectrpc/connect";
import type {
  Auth as AuthService,
  Cluster as ClusterService,
  KV as KVService,
  Lease as LeaseService,
  Maintenance as MaintenanceService,
  Watch,
} from "@etcd-connect/api/etcdserverpb";
import type { Election } from "@etcd-connect/api/v3electionpb";
import type { Lock } from "@etcd-connect/api/v3lockpb";

/** The generated Connect clients, on the client's transport and interceptors. */
export interface RpcClients {
  kv: ConnectClient<typeof KVService>;
  watch: ConnectClient<typeof Watch>;
  lease: ConnectClient<typeof LeaseService>;
  cluster: ConnectClient<typeof ClusterService>;
  maintenance: ConnectClient<typeof MaintenanceService>;
  auth: ConnectClient<typeof AuthService>;
  /** etcd's lock service (v3lockpb). */
  lock: ConnectClient<typeof Lock>;
  /** etcd's election service (v3electionpb). */
  election: ConnectClient<typeof Election>;
}

/** The generated clients over the balanced transport, and bound to one member. */
export interface RpcRouting {
  /** Clients over the balanced transport. */
  rpc: RpcClients;
  /** Clients bound to one member (one of the client's endpoints). */
  rpcAt(endpoint: string): RpcClients;
  /** The client's endpoint URLs. */
  endpoints(): string[];
}
