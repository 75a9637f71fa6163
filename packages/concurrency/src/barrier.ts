import { compare, type EtcdApi, EventType, opPut } from "@etcd-connect/client";
import { canceled, invalidArgument } from "./concurrency-error.js";
import { waitEvent } from "./wait-event.js";

/** Options of the barrier calls. */
export interface BarrierCallOptions {
  /** Gives up: a waiting `wait()` rejects with `canceled`. */
  signal?: AbortSignal;
}

/**
 * A barrier, as Go's `recipe.Barrier` and with its key layout: while the key `<name>` exists,
 * `wait()` blocks; deleting it lets every waiter through at once. The key carries no lease, as
 * in Go: a barrier outlives the process that held it, until someone releases it.
 *
 * @example
 * const deploy = createBarrier(client, "barriers/deploy");
 * await deploy.hold(); // from now on, wait() blocks
 * // ... elsewhere: await deploy.wait();
 * await deploy.release(); // every waiter goes on
 */
export interface Barrier {
  /** The client (or namespace) the barrier lives on. */
  readonly client: EtcdApi;
  /** The barrier's key: the name itself, as in Go. */
  readonly key: string;
  /** Creates the key if absent. Resolves true when this call created it, false when it was held. */
  hold(options?: BarrierCallOptions): Promise<boolean>;
  /** Deletes the key, letting every waiter through. Releasing a free barrier does nothing. */
  release(options?: BarrierCallOptions): Promise<void>;
  /**
   * Resolves once the barrier is free: at once when the key is absent, else when it is deleted.
   * A hold that comes after the delete does not catch a waiter that was already let through.
   */
  wait(options?: BarrierCallOptions): Promise<void>;
}

/**
 * A barrier on the key `name`, as Go's `recipe.NewBarrier(client, name)`.
 *
 * @example
 * const deploy = createBarrier(client, "barriers/deploy");
 */
export function createBarrier(client: EtcdApi, name: string): Barrier {
  if (typeof name !== "string" || name === "") {
    throw invalidArgument(`the barrier name must be a non-empty string, got ${JSON.stringify(name)}`);
  }
  return {
    client,
    key: name,
    hold: async (options = {}) => {
      const res = await client
        .txn()
        .if(compare.version(name, "=", 0))
        .then(opPut(name, ""))
        .commit(options);
      return res.succeeded;
    },
    release: async (options = {}) => {
      await client.delete(name, options);
    },
    wait: (options = {}) => waitFree(client, name, options.signal),
  };
}

async function waitFree(client: EtcdApi, key: string, signal: AbortSignal | undefined): Promise<void> {
  // The waits need a signal; without the caller's, one that never aborts.
  const wait = signal ?? new AbortController().signal;
  try {
    for (;;) {
      const res = await client.get(key, { keysOnly: true, signal: wait });
      if (res.kvs.length === 0) return;
      // Go's Wait waits for a put and then a delete from the read's revision, and so misses a
      // release when anything else was written after the hold; the delete alone is what counts.
      const deleted = await waitEvent(
        client,
        key,
        { startRevision: (res.header?.revision ?? 0n) + 1n, type: EventType.DELETE },
        wait,
      );
      if (deleted !== undefined) return;
    }
  } catch (error) {
    if (signal?.aborted) throw canceled(signal, `wait() on barrier ${key}`);
    throw error;
  }
}
