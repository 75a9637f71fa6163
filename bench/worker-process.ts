import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { ClientName } from "./bench-client.js";
import { deferred } from "./deferred.js";
import type { Metrics, WorkloadParams } from "./workloads.js";

const workerPath = join(import.meta.dirname, "worker.ts");
const running = new Set<ChildProcess>();

/** SIGKILLs every worker still running; run-bench calls it in `finally` and on exit. */
export function killWorkers(): void {
  for (const child of running) child.kill("SIGKILL");
  running.clear();
}
process.on("exit", killWorkers);

/** A worker process: `ready` for the fan-in handshake, `result` for its figures. */
export interface WorkerProcess {
  readonly ready: Promise<void>;
  readonly result: Promise<Metrics>;
  send(line: string): void;
}

/**
 * Starts `worker.ts` for one client and workload. The worker exits by itself when its stdin
 * closes, so even a SIGKILLed bench leaves no worker behind; `timeoutMs` bounds a stuck one.
 */
export function startWorker(
  client: ClientName,
  workload: string,
  endpoint: string,
  params: WorkloadParams,
  timeoutMs: number,
): WorkerProcess {
  const child = spawn(
    process.execPath,
    [
      // The clients run as users run them: compiled JavaScript from dist/ (`npm run bench` builds
      // first). BENCH_SOURCE=1 measures the TypeScript sources through tsx instead, whose helpers
      // (function naming, for one) cost a few percent.
      ...(process.env.BENCH_SOURCE === "1" ? ["--conditions=source"] : []),
      "--import",
      "tsx",
      "--expose-gc",
      workerPath,
      client,
      workload,
      endpoint,
      JSON.stringify(params),
    ],
    { cwd: import.meta.dirname, stdio: ["pipe", "pipe", "pipe"] },
  );
  running.add(child);
  const ready = deferred<void>();
  const result = deferred<Metrics>();
  // Handled here so an early failure is never an unhandled rejection; callers still see it.
  ready.promise.catch(() => undefined);
  const fail = (error: Error) => {
    ready.reject(error);
    result.reject(error);
  };
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  createInterface({ input: child.stdout }).on("line", (line) => {
    let message: { ready?: boolean; result?: Metrics; error?: string };
    try {
      message = JSON.parse(line) as typeof message;
    } catch {
      return; // not ours: a library printing to stdout
    }
    if (message.ready === true) ready.resolve();
    if (message.result !== undefined) result.resolve(message.result);
    if (message.error !== undefined) fail(new Error(`${client} ${workload}: ${message.error}`));
  });
  const timer = setTimeout(() => {
    fail(new Error(`${client} ${workload}: no result after ${timeoutMs} ms`));
    child.kill("SIGKILL");
  }, timeoutMs);
  child.stdin.on("error", () => undefined); // the worker may be gone already
  child.on("exit", (code, signal) => {
    clearTimeout(timer);
    running.delete(child);
    fail(new Error(`${client} ${workload}: worker exited (${signal ?? code}) without a result\n${stderr}`));
  });
  return {
    ready: ready.promise,
    result: result.promise,
    send(line) {
      child.stdin.write(`${line}\n`);
    },
  };
}
