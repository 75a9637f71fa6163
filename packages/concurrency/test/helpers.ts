import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { Bytes, WatchApi, Watcher, WatchOptions } from "@etcd-connect/client";
import type { EtcdLike } from "@etcd-connect/concurrency";

export const text = (bytes: Uint8Array | undefined) =>
  bytes === undefined ? undefined : new TextDecoder().decode(bytes);

/** Resolves once at least `count` keys exist under `prefix`: a watch, no polling. */
export async function waitForKeys(client: EtcdLike, prefix: string, count: number): Promise<void> {
  const abort = new AbortController();
  const watcher = client.watch(prefix, { prefix: true, signal: abort.signal });
  try {
    await watcher.ready;
    const has = async () => (await client.get(prefix, { prefix: true, countOnly: true })).count >= count;
    if (await has()) return;
    for await (const _ of watcher) if (await has()) return;
  } finally {
    abort.abort();
  }
}

/** A client whose watches are counted, to show that every watch we start is closed again. */
export function countingWatches(client: EtcdLike): {
  client: EtcdLike;
  open: () => number;
  nextWatch: () => Promise<Watcher>;
} {
  let open = 0;
  let onWatch: ((watcher: Watcher) => void) | undefined;
  const watch = (key: Bytes, options?: WatchOptions): Watcher => {
    const inner = client.watch(key, options);
    open++;
    onWatch?.(inner);
    onWatch = undefined;
    let closed = false;
    const closeOnce = () => {
      if (!closed) {
        closed = true;
        open--;
      }
    };
    options?.signal?.addEventListener("abort", closeOnce, { once: true });
    return {
      ready: inner.ready,
      get status() {
        return inner.status;
      },
      statusChanged: () => inner.statusChanged(),
      close: () => {
        closeOnce();
        return inner.close();
      },
      [Symbol.asyncDispose]: () => {
        closeOnce();
        return inner.close();
      },
      [Symbol.asyncIterator]: () => {
        const it = inner[Symbol.asyncIterator]();
        return {
          next: () => it.next(),
          return: async () => {
            closeOnce();
            return (await it.return?.()) ?? { done: true, value: undefined };
          },
        };
      },
    };
  };
  const watchApi: WatchApi = { watch, requestProgress: (o) => client.requestProgress(o) };
  return {
    client: {
      get: (k, o) => client.get(k, o),
      put: (k, v, o) => client.put(k, v, o),
      delete: (k, o) => client.delete(k, o),
      txn: () => client.txn(),
      compact: (r, o) => client.compact(r, o),
      lease: client.lease,
      ...watchApi,
    },
    open: () => open,
    nextWatch: () =>
      new Promise((resolve) => {
        onWatch = resolve;
      }),
  };
}

/** A running `etcdctl` (API v3): its stdout lines, one at a time, and a clean interrupt. */
export class Etcdctl {
  readonly child: ChildProcessWithoutNullStreams;
  readonly exited: Promise<number | null>;
  private readonly lines: string[] = [];
  private waiting: ((line: string | undefined) => void) | undefined;
  private ended = false;
  stderr = "";

  constructor(endpoint: string, args: string[]) {
    this.child = spawn("etcdctl", [`--endpoints=${endpoint}`, ...args], {
      env: { ...process.env, ETCDCTL_API: "3" },
    });
    this.child.stderr.on("data", (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    createInterface({ input: this.child.stdout }).on("line", (line) => {
      const waiting = this.waiting;
      this.waiting = undefined;
      if (waiting !== undefined) waiting(line);
      else this.lines.push(line);
    });
    this.exited = new Promise((resolve) => {
      this.child.on("close", (code) => {
        this.ended = true;
        this.waiting?.(undefined);
        this.waiting = undefined;
        resolve(code);
      });
    });
  }

  /** Lines printed and not read yet. */
  get unread(): number {
    return this.lines.length;
  }

  /** The next stdout line; rejects if etcdctl exits first. */
  async nextLine(): Promise<string> {
    const queued = this.lines.shift();
    if (queued !== undefined) return queued;
    const line = this.ended
      ? undefined
      : await new Promise<string | undefined>((resolve) => {
          this.waiting = resolve;
        });
    if (line === undefined) throw new Error(`etcdctl exited before printing a line; stderr: ${this.stderr}`);
    return line;
  }

  /** SIGTERM (etcdctl unlocks or resigns on it), then the exit code. */
  async interrupt(): Promise<number | null> {
    if (!this.ended) this.child.kill("SIGTERM");
    return this.exited;
  }

  /** For `after`: make sure the process is gone. */
  async kill(): Promise<void> {
    if (!this.ended) this.child.kill("SIGKILL");
    await this.exited;
  }
}
