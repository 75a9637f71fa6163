import { Code, ConnectError, createClient as createConnectClient } from "@connectrpc/connect";
import { Maintenance } from "@etcd-connect/api/etcdserverpb";
import { createBalancedTransport } from "./balanced-transport.js";
import type { EndpointPool, PooledEndpoint } from "./endpoint-pool.js";

/** Whether an etcd version string ("3.4.23") is at least major.minor. */
export function isVersionAtLeast(version: string, major: number, minor: number): boolean {
  const [ma, mi] = version.split(".").map((part) => Number.parseInt(part, 10));
  if (ma === undefined || mi === undefined || Number.isNaN(ma) || Number.isNaN(mi)) return false;
  return ma > major || (ma === major && mi >= minor);
}

/**
 * Asks one member for its version (Maintenance.Status, straight to that member) and refuses
 * members older than etcd 3.4, as `rejectOldCluster` promises.
 */
export async function rejectOldMember(
  entry: PooledEndpoint,
  signal: AbortSignal | undefined,
  pool: EndpointPool,
): Promise<void> {
  const transport = createBalancedTransport({
    pool,
    interceptors: [],
    writeMaxBytes: 1024 * 1024,
    readMaxBytes: 1024 * 1024,
    requestTimeoutMs: undefined,
    requireLeader: false,
    waitForEndpointMs: 0,
    pin: entry.endpoint.url,
    checking: true,
  });
  const status = await createConnectClient(Maintenance, transport).status(
    {},
    signal === undefined ? {} : { signal },
  );
  if (!isVersionAtLeast(status.version, 3, 4)) {
    throw new ConnectError(
      `member ${entry.endpoint.url} runs etcd ${status.version}; rejectOldCluster requires etcd 3.4 or newer`,
      Code.FailedPrecondition,
    );
  }
}
