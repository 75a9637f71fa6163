import { create } from "@bufbuild/protobuf";
import type { Client as ConnectClient } from "@connectrpc/connect";
import {
  LockRequestSchema,
  type LockResponse,
  type Lock as LockRpc,
  UnlockRequestSchema,
  type UnlockResponse,
} from "@etcd-connect/api/v3lockpb";
import { type Bytes, toBytes } from "../bytes.js";
import { type CallOptions, callEtcd } from "../call-options.js";
import { invalidArgument } from "../errors.js";
import { type Int64Like, toInt64 } from "../int64.js";

/** Options of {@link LockService.lock}. */
export interface LockOptions extends CallOptions {
  /**
   * The lease the lock is held under (required, an id above 0): the lock lasts until
   * `unlock`, or until this lease is revoked or expires. Keep it alive
   * (`client.lease.keepAlive`) for as long as you need the lock. etcd would take 0 as "grant a
   * 60 s lease of your own" that nobody keeps alive, so 0 is refused here.
   */
  lease: Int64Like;
}

/**
 * etcd's lock service (`v3lockpb.Lock`, as jetcd's `Lock`): locks that the etcd member
 * acquires on the caller's behalf, so one call waits for the lock instead of a watch. They are
 * the locks of Go's `concurrency.Mutex` and of `@etcd-connect/concurrency`'s `createMutex`:
 * the lock on `name` is the key `name/<lease id in hex>` that was created first, so all of
 * them exclude each other.
 *
 * `lock` waits as long as it takes unless given a `signal` or `timeoutMs`; when the wait ends
 * that way, etcd deletes the waiter's key. A failure without an answer from etcd is
 * `indeterminate`: the lock may be held under the lease. Revoke the lease, or unlock
 * `name/<lease id in hex>`, to be sure it is not.
 *
 * @example
 * const { ID } = await client.lease.grant(10);
 * const { key } = await locks.lock("locks/report", { lease: ID, timeoutMs: 30_000 });
 * try {
 *   // ...work that only one process may do at a time...
 * } finally {
 *   await locks.unlock(key);
 * }
 */
export interface LockService {
  /**
   * Waits until the caller owns the lock `name`, then resolves with the key that stands for
   * it (`name/<lease id in hex>`) and the header of the revision it was won at. A second
   * `lock` of the same name under the same lease resolves at once with the same key.
   */
  lock(name: Bytes, options: LockOptions): Promise<LockResponse>;
  /**
   * Releases a lock by deleting the key `lock` returned; the next waiter gets the lock. A key
   * that no longer exists is no error.
   */
  unlock(key: Bytes, options?: CallOptions): Promise<UnlockResponse>;
}

/** The lock service facade over a generated Connect client. */
export function createLockService(rpc: ConnectClient<typeof LockRpc>): LockService {
  return {
    lock: (name, options) =>
      callEtcd(options, (call) =>
        rpc.lock(
          create(LockRequestSchema, {
            name: nonEmptyBytes("name", name),
            lease: toInt64("lease", leaseOf(options), 1n),
          }),
          call,
        ),
      ),
    unlock: (key, options) =>
      callEtcd(options, (call) =>
        rpc.unlock(create(UnlockRequestSchema, { key: nonEmptyBytes("key", key) }), call),
      ),
  };
}

// A missing options object reads as a missing lease, for callers without TypeScript.
function leaseOf(options: LockOptions | undefined): Int64Like {
  if (options?.lease === undefined) {
    throw invalidArgument("lease is required: grant one with client.lease.grant(ttl) and keep it alive");
  }
  return options.lease;
}

/**
 * @internal Checks a lock or election name, or a key: text or bytes, not empty. etcd takes an
 * empty name and makes the key `/<lease id in hex>`, which then queues behind every key that
 * starts with "/": never what was meant.
 */
export function nonEmptyBytes(what: string, value: Bytes): Uint8Array {
  if (typeof value !== "string" && !(value instanceof Uint8Array)) {
    throw invalidArgument(`${what} must be a string or Uint8Array`);
  }
  const bytes = toBytes(value);
  if (bytes.length === 0) throw invalidArgument(`${what} must not be empty`);
  return bytes;
}
