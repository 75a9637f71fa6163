import type { RpcClients } from "./client.js";

/** What the Maintenance facade needs from the client. */
export interface MaintenanceDeps {
  /** Clients over the balanced transport. */
  rpc: RpcClients;
  /** Clients bound to one member (one of the client's endpoints). */
  rpcAt(endpoint: string): RpcClients;
  /** The client's endpoint URLs. */
  endpoints(): string[];
}

/** etcd's maintenance API (`client.maintenance`), as Go's `clientv3.Maintenance`. */
// biome-ignore lint/suspicious/noEmptyInterface: filled by the Maintenance facade work.
export interface Maintenance {}

/** The Maintenance facade. */
export function createMaintenance(_deps: MaintenanceDeps): Maintenance {
  return {};
}
