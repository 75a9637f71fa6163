import type { Bytes, LockService } from "@etcd-connect/client";
import { outsidePrefix } from "./errors.js";
import { namespacePrefix, prefixName, stripPrefix } from "./prefix.js";

/**
 * etcd's lock service confined to `prefix`: the lock `name` is `prefix + name`, so etcd writes
 * the lock key `prefix + name/<lease id in hex>`, and `lock` returns that key without the
 * prefix; `unlock` takes it back the same way. The same name in two namespaces is two locks.
 * A lock taken here and a `createMutex` of `@etcd-connect/concurrency` over
 * `namespace(client, prefix)` on the same name exclude each other: the keys are the same.
 *
 * An empty name or key is refused (reason `invalid_argument`): prefixed, it would be the
 * prefix itself. The lease is not confined: lease ids are global, as in `namespaceLease`.
 *
 * @example
 * const locks = namespaceLockService(client.lockService, "tenant-a/");
 * const { key } = await locks.lock("report", { lease: id }); // etcd key "tenant-a/report/<lease hex>"
 * console.log(new TextDecoder().decode(key)); // "report/<lease hex>"
 * await locks.unlock(key);
 */
export function namespaceLockService(locks: LockService, prefix: Bytes): LockService {
  const pfx = namespacePrefix(prefix);
  return {
    lock: async (name, options) => {
      const res = await locks.lock(prefixName(pfx, name, "name"), options);
      const key = stripPrefix(pfx, res.key);
      if (key === undefined) {
        throw outsidePrefix("lock", "the lock is held under the lease: revoke the lease to release it");
      }
      return { ...res, key };
    },
    unlock: async (key, options) => locks.unlock(prefixName(pfx, key, "key"), options),
  };
}
