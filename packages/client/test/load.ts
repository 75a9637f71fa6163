// A steady put/get load for failover tests: records what was acknowledged, what failed and
// how, and when each member answered.

import assert from "node:assert/strict";
import { after, afterEach, before } from "node:test";
import { type Client, EtcdError } from "@etcd-connect/client";
import { type ClusterOptions, type EtcdCluster, startCluster } from "@etcd-connect/testing";
import { watchDeadline } from "./deadline-watch.js";

export interface LoadResult {
  /** Keys whose put was acknowledged. */
  acked: string[];
  /** Puts that failed, with the error. */
  failedWrites: Array<{ key: string; error: EtcdError }>;
  /** Reads that failed. */
  failedReads: EtcdError[];
  /** Calls that outlived their deadline, by how many ms (see `watchDeadline`). */
  overruns: number[];
  /** Successful calls: completion time and answering member. */
  answers: Array<{ at: number; memberId: bigint }>;
}

export interface LoadOptions {
  workers: number;
  /** Keys are `${prefix}${worker}/${n}`. */
  prefix: string;
  timeoutMs: number;
  /** Stop once this many writes were acknowledged and `until` resolved. */
  minAcked: number;
  until: Promise<unknown>;
  /**
   * Workers that only read (linearizable gets), besides the put/get ones. A read can move to
   * another member when its own stops answering; a write in flight cannot (it may have been
   * applied), so a load of writers alone shows a pause only when their deadlines run out.
   */
  readers?: number;
}

/** Runs puts of unique keys, each followed by a linearizable get, from several workers. */
export async function runLoad(client: Client, options: LoadOptions): Promise<LoadResult> {
  const result: LoadResult = { acked: [], failedWrites: [], failedReads: [], overruns: [], answers: [] };
  let done = false;
  options.until.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  const timed = async <T>(fn: () => Promise<T>): Promise<T> => {
    const lateness = watchDeadline(options.timeoutMs);
    try {
      return await fn();
    } finally {
      const late = lateness();
      if (late > 0) result.overruns.push(late);
    }
  };
  const worker = async (w: number) => {
    for (let n = 0; !(done && result.acked.length >= options.minAcked); n++) {
      const key = `${options.prefix}${w}/${n}`;
      try {
        const res = await timed(() => client.put(key, `v${n}`, { timeoutMs: options.timeoutMs }));
        result.acked.push(key);
        result.answers.push({ at: Date.now(), memberId: res.header?.memberId ?? 0n });
      } catch (error) {
        if (!(error instanceof EtcdError)) throw error;
        result.failedWrites.push({ key, error });
      }
      try {
        const res = await timed(() => client.get(key, { timeoutMs: options.timeoutMs }));
        result.answers.push({ at: Date.now(), memberId: res.header?.memberId ?? 0n });
      } catch (error) {
        if (!(error instanceof EtcdError)) throw error;
        result.failedReads.push(error);
      }
    }
  };
  const reader = async () => {
    while (!(done && result.acked.length >= options.minAcked)) {
      try {
        const res = await timed(() => client.get(`${options.prefix}0/0`, { timeoutMs: options.timeoutMs }));
        result.answers.push({ at: Date.now(), memberId: res.header?.memberId ?? 0n });
      } catch (error) {
        if (!(error instanceof EtcdError)) throw error;
        result.failedReads.push(error);
      }
    }
  };
  await Promise.all([
    ...Array.from({ length: options.workers }, (_, w) => worker(w)),
    ...Array.from({ length: options.readers ?? 0 }, reader),
  ]);
  return result;
}

/** Reads every acked key back (in pages) and returns the ones missing. */
export async function missingKeys(client: Client, prefix: string, acked: string[]): Promise<string[]> {
  const present = new Set<string>();
  for await (const page of client.getAll(prefix, { keysOnly: true, pageSize: 5000 })) {
    for (const kv of page.kvs) present.add(new TextDecoder().decode(kv.key));
  }
  return acked.filter((key) => !present.has(key));
}

/** Records unhandled rejections and uncaught exceptions while a suite runs. */
export function trapProcessErrors(): { errors: unknown[]; dispose(): void } {
  const errors: unknown[] = [];
  const onError = (error: unknown) => errors.push(error);
  process.on("unhandledRejection", onError);
  process.on("uncaughtException", onError);
  return {
    errors,
    dispose() {
      process.off("unhandledRejection", onError);
      process.off("uncaughtException", onError);
    },
  };
}

/** Polls `check` every 20 ms until it returns true; fails after `timeoutMs`. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Undoes every fault of a test: heals the network, resumes and restarts members, waits for health.
 * A member that a long pause left unable to rejoin within the wait (on a loaded machine etcd 3.4
 * can keep re-dialling its peer streams while it replays thousands of entries, and its /health
 * read times out meanwhile) is restarted once: the next test needs a healthy cluster, and the
 * test that paused it has already made its assertions.
 */
export async function restoreCluster(cluster: EtcdCluster): Promise<void> {
  cluster.heal();
  for (const member of cluster.members) {
    if (member.paused) member.resume();
    if (!member.running) await member.restart();
  }
  try {
    await cluster.waitHealthy();
    return;
  } catch {
    // Restart whoever is not healthy, then wait once more (a failure then is the test's error).
  }
  for (const member of cluster.members) {
    const healthy = await member.waitHealthy({ timeoutMs: 1 }).then(
      () => true,
      () => false,
    );
    if (!healthy) {
      await member.kill();
      await member.restart();
    }
  }
  await cluster.waitHealthy();
}

/**
 * Hooks for a suite of fault tests on one 3-member cluster: started once (with `options`, if
 * given), restored after every test (`beforeRestore` runs first, e.g. to close the test's
 * client), closed at the end, which also fails the suite on any unhandled rejection or uncaught
 * exception seen meanwhile.
 */
export function useFaultCluster(
  beforeRestore?: () => Promise<void>,
  options?: ClusterOptions,
): {
  readonly cluster: EtcdCluster;
  trap: { errors: unknown[] };
} {
  const trap = trapProcessErrors();
  let current: EtcdCluster | undefined;
  before(async () => {
    current = await startCluster({ ...options, size: 3 });
  });
  afterEach(async () => {
    await beforeRestore?.();
    if (current !== undefined) await restoreCluster(current);
  });
  after(async () => {
    trap.dispose();
    await current?.close();
    assert.deepEqual(trap.errors, [], "no unhandled rejection or uncaught exception");
  });
  return {
    get cluster(): EtcdCluster {
      if (current === undefined) throw new Error("the cluster starts in before()");
      return current;
    },
    trap,
  };
}
