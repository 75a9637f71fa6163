import {
  type CallOptions,
  type ClientLogger,
  type EtcdApi,
  type Int64Like,
  opDelete,
  opPut,
  type RequestOp,
} from "@etcd-connect/client";
import type { Endpoint, EndpointUpdate } from "./endpoint.js";
import { encodeEndpoint } from "./endpoint-json.js";
import { checkKey, targetPrefix } from "./endpoint-keys.js";
import { type EndpointSnapshot, followEndpoints, type WatchEndpointsOptions } from "./endpoint-watch.js";
import { invalidArgument } from "./errors.js";
import { byUtf8 } from "./key-order.js";
import { readEndpoints } from "./read-endpoints.js";
import { checkRegisterOptions, type RegisterOptions, type Registration, register } from "./registration.js";

/** Options of {@link createEndpointManager}. */
export interface EndpointManagerOptions {
  /**
   * Told (`warn`) about each stored value under the target that is not an endpoint in Go's
   * format, which `list` and `watch` leave out as Go does. Default: none.
   */
  logger?: ClientLogger;
}

/** Options of {@link EndpointManager.add}. */
export interface AddEndpointOptions extends CallOptions {
  /**
   * Attach the key to this lease (Go's `clientv3.WithLease`): it is deleted when the lease
   * ends. Default: none, the key stays until deleted. `register` grants and keeps one for you.
   */
  lease?: Int64Like;
}

/**
 * The endpoints of one target (a service name) in etcd, as Go's `endpoints.Manager`: same keys,
 * same JSON values, so Go services, Go's gRPC resolver and Node services find each other. Keys
 * are full etcd keys under `<target>/`, as in Go (`my-service/10.0.0.7:8080`); on a namespace
 * (`@etcd-connect/namespace`) they live under its prefix.
 *
 * @example
 * const manager = createEndpointManager(client, "my-service");
 * await manager.add("my-service/node-1", { addr: "10.0.0.7:8080" });
 * console.log(await manager.list()); // Map { "my-service/node-1" => { addr: "10.0.0.7:8080", metadata: null } }
 */
export interface EndpointManager {
  /** The target (service name) whose endpoints this manages. */
  readonly target: string;
  /**
   * Adds an endpoint, or replaces the one under `key` (Go's `AddEndpoint`). Resolves with the
   * revision of the write.
   */
  add(key: string, endpoint: Endpoint, options?: AddEndpointOptions): Promise<bigint>;
  /** Deletes the endpoint under `key`, if any (Go's `DeleteEndpoint`). Resolves with the revision. */
  delete(key: string, options?: CallOptions): Promise<bigint>;
  /**
   * Applies adds and deletes in one transaction, all or nothing (Go's `Update`); at most 128
   * (etcd's `--max-txn-ops`), each key once. Resolves with the revision.
   */
  update(updates: readonly EndpointUpdate[], options?: CallOptions): Promise<bigint>;
  /**
   * Every endpoint of the target, by key in key order (Go's `List`). A linearizable read, paged
   * for large targets, every page at one revision. Values that are not endpoints are left out.
   */
  list(options?: CallOptions): Promise<ReadonlyMap<string, Endpoint>>;
  /**
   * The whole set of endpoints now, then again after each change, as an
   * {@link EndpointSnapshot} (with Go's updates since the previous one). It starts from one
   * consistent read and watches from the next revision; the client's watch resumes on another
   * member when its member fails, so no change is missed. If etcd compacted the history the
   * watch needs, it reads the set afresh (intermediate sets may then be skipped, never the
   * current one). A slow reader holds the watch back (etcd buffers), rather than the set going
   * stale. Leaving the loop or aborting the signal cancels the watch; each iteration of the
   * returned iterable starts its own.
   */
  watch(options?: WatchEndpointsOptions): AsyncIterable<EndpointSnapshot>;
  /**
   * Adds an endpoint kept alive by a session (`@etcd-connect/concurrency`): it is listed while
   * this process runs and keeps its lease, and removed by etcd once the TTL runs out after the
   * process died. See {@link Registration} and {@link RegisterOptions}.
   */
  register(key: string, endpoint: Endpoint, options?: RegisterOptions): Promise<Registration>;
}

/** The put of an endpoint as one op of the manager's transaction. */
function addOp(prefix: string, key: string, endpoint: Endpoint, lease: Int64Like | undefined): RequestOp {
  checkKey(prefix, key);
  return opPut(key, encodeEndpoint(endpoint), lease === undefined ? {} : { lease });
}

function updateOps(prefix: string, updates: readonly EndpointUpdate[]): RequestOp[] {
  if (!Array.isArray(updates)) throw invalidArgument("update takes an array of updates");
  const keys = new Set<string>();
  return updates.map((update, i) => {
    if (typeof update !== "object" || update === null) {
      throw invalidArgument(`update ${i} must be an object, got ${String(update)}`);
    }
    // etcd refuses a transaction that touches a key twice; say which key before sending it.
    if (keys.has(update.key)) throw invalidArgument(`update ${i} repeats key ${JSON.stringify(update.key)}`);
    keys.add(update.key);
    switch (update.op) {
      case "add":
        return addOp(prefix, update.key, update.endpoint, update.lease);
      case "delete":
        checkKey(prefix, update.key);
        return opDelete(update.key);
      default:
        throw invalidArgument(
          `update ${i} has op ${JSON.stringify((update as { op: unknown }).op)}: add or delete`,
        );
    }
  });
}

function checkSignal(options: { signal?: AbortSignal } | undefined): void {
  if (options?.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw invalidArgument("signal must be an AbortSignal");
  }
}

/**
 * The endpoint manager of `target` on a client, or on a namespace of one, as Go's
 * `endpoints.NewManager(client, target)`. Refuses an empty target (`invalid_argument`).
 *
 * @example
 * const manager = createEndpointManager(client, "my-service");
 * await using registration = await manager.register("my-service/node-1", { addr: "10.0.0.7:8080" });
 * for await (const { endpoints } of manager.watch({ signal })) console.log([...endpoints.keys()]);
 */
export function createEndpointManager(
  client: EtcdApi,
  target: string,
  options: EndpointManagerOptions = {},
): EndpointManager {
  if (typeof client !== "object" || client === null || typeof client.txn !== "function") {
    throw invalidArgument("createEndpointManager needs a client (or a namespace of one)");
  }
  const prefix = targetPrefix(target);
  const { logger } = options;
  const commit = async (ops: RequestOp[], call: CallOptions | undefined): Promise<bigint> => {
    const res = await client
      .txn()
      .then(...ops)
      .commit(call ?? {});
    return res.header?.revision ?? 0n;
  };
  return {
    target,
    add: async (key, endpoint, options) => {
      checkSignal(options);
      const { lease, ...call } = options ?? {};
      return commit([addOp(prefix, key, endpoint, lease)], call);
    },
    delete: async (key, options) => {
      checkSignal(options);
      checkKey(prefix, key);
      return commit([opDelete(key)], options);
    },
    update: async (updates, options) => {
      checkSignal(options);
      return commit(updateOps(prefix, updates), options);
    },
    list: async (options) => {
      checkSignal(options);
      const read = await readEndpoints(client, prefix, target, logger, options ?? {});
      const keys = [...read.entries.keys()].sort(byUtf8);
      return new Map(keys.map((key) => [key, read.entries.get(key)?.endpoint as Endpoint]));
    },
    watch: (options = {}) => {
      checkSignal(options);
      return {
        [Symbol.asyncIterator]: () => followEndpoints(client, prefix, target, logger, options.signal),
      };
    },
    register: async (key, endpoint, options = {}) => {
      checkKey(prefix, key);
      const value = encodeEndpoint(endpoint);
      checkRegisterOptions(options);
      return register(client, key, endpoint, value, options);
    },
  };
}
