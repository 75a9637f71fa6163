import type { Bytes, Lease } from "@etcd-connect/client";
import { namespacePrefix, stripPrefix } from "./prefix.js";

/**
 * A lease API for a namespace, as Go's `namespace.NewLease`: `timeToLive` with `keys` lists
 * only the attached keys under `prefix`, without it. Everything else passes through, because
 * lease ids are global: a namespace cannot tell whose lease an id is.
 *
 * @example
 * const lease = namespaceLease(client.lease, "tenant-a/");
 * const { keys } = await lease.timeToLive(id, { keys: true }); // tenant-a's keys, unprefixed
 */
export function namespaceLease(lease: Lease, prefix: Bytes): Lease {
  const pfx = namespacePrefix(prefix);
  return {
    grant: (ttl, options) => lease.grant(ttl, options),
    revoke: (id, options) => lease.revoke(id, options),
    timeToLive: async (id, options) => {
      const res = await lease.timeToLive(id, options);
      const keys: Uint8Array[] = [];
      for (const key of res.keys) {
        const stripped = stripPrefix(pfx, key);
        if (stripped !== undefined) keys.push(stripped);
      }
      return { ...res, keys };
    },
    leases: (options) => lease.leases(options),
    keepAliveOnce: (id, options) => lease.keepAliveOnce(id, options),
    keepAlive: (id, options) => lease.keepAlive(id, options),
  };
}
