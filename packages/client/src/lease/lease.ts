import { Code, type Client as ConnectClient } from "@connectrpc/connect";
import type {
  LeaseGrantResponse,
  LeaseKeepAliveRequest,
  LeaseKeepAliveResponse,
  LeaseLeasesResponse,
  LeaseRevokeResponse,
  Lease as LeaseService,
  LeaseTimeToLiveResponse,
} from "@etcd-connect/api/etcdserverpb";
import { AsyncQueue } from "../async-queue.js";
import { type CallOptions, callEtcd } from "../call-options.js";
import { EtcdError, invalidArgument, toEtcdError } from "../errors.js";
import { type Int64Like, toInt64 } from "../int64.js";
import { keepAliveRequest } from "./keep-alive-request.js";
import type { LeaseKeepAliveEngine, LeaseKeeper } from "./lease-keeper.js";

/**
 * etcd's lease API (`client.lease`), as Go's `clientv3.Lease`. TTLs are in seconds.
 *
 * @example
 * const { ID } = await client.lease.grant(10);
 * await client.put("service/node-1", "up", { lease: ID });
 * const keeper = client.lease.keepAlive(ID);
 * keeper.lost.then((reason) => stopServing(reason)); // before etcd could hand the key to another
 */
export interface Lease {
  /** Grants a lease of `ttl` seconds (at least 1); `id` asks for a specific id (0: etcd picks). */
  grant(ttl: Int64Like, options?: { id?: Int64Like } & CallOptions): Promise<LeaseGrantResponse>;
  /** Revokes a lease: its keys are deleted at once. A keeper of it stops, its `lost` settling with `lease_not_found`. */
  revoke(id: Int64Like, options?: CallOptions): Promise<LeaseRevokeResponse>;
  /** Remaining and granted TTL; `keys` lists the keys attached. TTL -1 means the lease is gone. */
  timeToLive(id: Int64Like, options?: { keys?: boolean } & CallOptions): Promise<LeaseTimeToLiveResponse>;
  /** Every lease of the cluster. */
  leases(options?: CallOptions): Promise<LeaseLeasesResponse>;
  /** Renews a lease once. Fails with `lease_not_found` when it is gone. */
  keepAliveOnce(id: Int64Like, options?: CallOptions): Promise<LeaseKeepAliveResponse>;
  /**
   * Keeps a lease alive until `close()`, the signal, or its loss. One stream per client carries
   * every kept lease; see {@link LeaseKeeper} for the `lost` guarantee.
   */
  keepAlive(id: Int64Like, options?: { signal?: AbortSignal }): LeaseKeeper;
}

const maxRememberedGrants = 10_000;

function leaseId(id: Int64Like): bigint {
  return toInt64("lease id", id, 1n);
}

/** The Lease facade; `engine` keeps leases alive on one shared stream. */
export function createLease(rpc: ConnectClient<typeof LeaseService>, engine: LeaseKeepAliveEngine): Lease {
  // Grants made by this client: keepAlive then knows when the lease could expire from the start.
  const grants = new Map<bigint, { sentAt: number; ttlMs: number }>();
  return {
    grant: (ttl, options) =>
      callEtcd(options, async (call) => {
        const TTL = toInt64("ttl", ttl);
        if (TTL < 1n) throw invalidArgument(`lease ttl must be at least 1 second, got ${TTL}`);
        const sentAt = Date.now();
        const res = await rpc.leaseGrant(
          { TTL, ID: options?.id === undefined ? 0n : leaseId(options.id) },
          call,
        );
        if (res.error !== "") throw new EtcdError(res.error, Code.Unknown, "unknown");
        grants.set(res.ID, { sentAt, ttlMs: Number(res.TTL) * 1000 });
        // Only recent grants matter (keepAlive follows grant); keep the map bounded.
        if (grants.size > maxRememberedGrants) grants.delete(grants.keys().next().value as bigint);
        return res;
      }),
    revoke: (id, options) =>
      callEtcd(options, async (call) => {
        const ID = leaseId(id);
        grants.delete(ID);
        const res = await rpc.leaseRevoke({ ID }, call).catch((error: unknown) => {
          // Not found is gone all the same, whoever revoked it (an earlier attempt of this call,
          // when the error says the outcome is unknown): its keepers must hear it too.
          if (toEtcdError(error).reason === "lease_not_found") engine.revoked(ID);
          throw error;
        });
        // Anyone holding a lock or leadership under the lease must hear it is gone.
        engine.revoked(ID);
        return res;
      }),
    timeToLive: (id, options) =>
      callEtcd(options, (call) =>
        rpc.leaseTimeToLive({ ID: leaseId(id), keys: options?.keys ?? false }, call),
      ),
    leases: (options) => callEtcd(options, (call) => rpc.leaseLeases({}, call)),
    keepAliveOnce: (id, options) =>
      callEtcd(options, async (call) => {
        const ID = leaseId(id);
        const abort = new AbortController();
        const signal =
          call.signal === undefined ? abort.signal : AbortSignal.any([call.signal, abort.signal]);
        const requests = new AsyncQueue<LeaseKeepAliveRequest>();
        requests.push(keepAliveRequest(ID));
        try {
          const responses = rpc.leaseKeepAlive(requests, { ...call, signal });
          for await (const res of responses) {
            if (res.TTL <= 0n) {
              throw new EtcdError(
                `lease ${ID.toString(16)} is gone (revoked or expired)`,
                Code.NotFound,
                "lease_not_found",
              );
            }
            return res;
          }
          throw new EtcdError("keepalive stream ended without an answer", Code.Unavailable, "unavailable");
        } finally {
          requests.end();
          abort.abort();
        }
      }),
    keepAlive: (id, options) => {
      const ID = leaseId(id);
      const granted = grants.get(ID);
      grants.delete(ID);
      return engine.keep(ID, granted, options?.signal);
    },
  };
}
