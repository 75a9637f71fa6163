import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { Bytes, WatchApi, Watcher, WatchOptions } from "@etcd-connect/client";
import type { EtcdLike } from "@etcd-connect/concurrency";

export const text = (bytes: Uint8Array | undefined) =>
  bytes === undefined ? undefined : new TextDecoder().decode(bytes);

/** Resolves once at least `count` keys exist under `prefix`: a watch, no polling. */
export function waitForKeys(client: EtcdLike, prefix: string, count: number): Promise<void> {
  return waitForCount(client, prefix, (n) => n >= count);
}

/** Resolves once the number of keys under `prefix` satisfies `wanted`: a watch, no polling. */
export async function waitForCount(
  client: EtcdLike,
  prefix: string,
  wanted: (count: number) => boolean,
): Promise<void> {
  const abort = new AbortController();
  const watcher = client.watch(prefix, { prefix: true, signal: abort.signal });
  try {
    await watcher.ready;
    const has = async () =>
      wanted(Number((await client.get(prefix, { prefix: true, countOnly: true })).count));
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

/** A child process read line by line from its stdout, with its stderr kept for messages. */
export class LineProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly exited: Promise<number | null>;
  private readonly lines: string[] = [];
  private waiting: ((line: string | undefined) => void) | undefined;
  private ended = false;
  stderr = "";

  constructor(command: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
    this.child = spawn(command, args, { env });
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

  /** True once the process has exited and its output is closed. */
  get done(): boolean {
    return this.ended;
  }

  /** The next stdout line; rejects if the process exits first. */
  async nextLine(): Promise<string> {
    const queued = this.lines.shift();
    if (queued !== undefined) return queued;
    const line = this.ended
      ? undefined
      : await new Promise<string | undefined>((resolve) => {
          this.waiting = resolve;
        });
    if (line === undefined) {
      throw new Error(
        `${this.child.spawnargs.join(" ")} exited before printing a line; stderr: ${this.stderr}`,
      );
    }
    return line;
  }

  /** Writes a line to the process's stdin. */
  send(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  /** SIGTERM, then the exit code. */
  async interrupt(): Promise<number | null> {
    if (!this.ended) this.child.kill("SIGTERM");
    return this.exited;
  }

  /** SIGKILL (for `after`, or a crash on purpose), then wait until the process is gone. */
  async kill(): Promise<void> {
    if (!this.ended) this.child.kill("SIGKILL");
    await this.exited;
  }
}

/** A running `etcdctl` (API v3). SIGTERM makes `etcdctl lock` / `elect` unlock or resign. */
export class Etcdctl extends LineProcess {
  constructor(endpoint: string, args: string[]) {
    super("etcdctl", [`--endpoints=${endpoint}`, ...args], { ...process.env, ETCDCTL_API: "3" });
  }
}

/** Runs `etcdctl` (API v3) to the end; resolves with its stdout, rejects unless it exits 0. */
export async function etcdctlRun(endpoint: string, ...args: string[]): Promise<string> {
  const tool = new Etcdctl(endpoint, args);
  let out = "";
  tool.child.stdout.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  const code = await tool.exited;
  if (code !== 0) throw new Error(`etcdctl ${args.join(" ")} exited ${code}: ${tool.stderr}`);
  return out;
}

const worker = fileURLToPath(new URL("./recipe-worker.ts", import.meta.url));

/**
 * Starts `recipe-worker.ts` in its own Node process (its own client, sessions and leases),
 * talking to `endpoint`: processes that contend for real, and can be SIGKILLed.
 */
export function startWorker(
  endpoint: string,
  role: string,
  args: Record<string, string | number>,
): LineProcess {
  return new LineProcess(
    process.execPath,
    ["--conditions=source", "--import", "tsx", worker, role, JSON.stringify(args)],
    { ...process.env, ETCD_ENDPOINTS: endpoint },
  );
}

/** The next line of a worker that is a JSON record with `event`. */
export async function nextEvent<T extends { event: string }>(
  worker: LineProcess,
  event: T["event"],
): Promise<T> {
  for (;;) {
    const record = JSON.parse(await worker.nextLine()) as T;
    if (record.event === event) return record;
  }
}

/** Resolves with the revision at which `key` was deleted, from `from` on (history included). */
export async function deletedAt(client: EtcdLike, key: Bytes, from: bigint): Promise<bigint> {
  const abort = new AbortController();
  try {
    for await (const batch of client.watch(key, { startRevision: from, noPut: true, signal: abort.signal })) {
      const deleted = batch.events[0];
      if (deleted?.kv !== undefined) return deleted.kv.modRevision;
    }
  } finally {
    abort.abort();
  }
  throw new Error("the watch ended before the delete");
}
