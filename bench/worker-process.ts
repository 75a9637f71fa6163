import {
  type ChildProcess,
  type ChildProcessWithoutNullStreams,
  type SpawnOptionsWithoutStdio,
  spawn,
} from "node:child_process";
import { createInterface } from "node:readline";
import type { NodeClientName } from "./bench-client.js";
import { deferred } from "./deferred.js";
import type { NodeWorker } from "./node-worker.js";
import type { Metrics, WorkloadParams } from "./workloads.js";

const running = new Set<ChildProcess>();

/** SIGKILLs every worker still running; run-bench calls it in `finally` and on exit. */
export function killWorkers(): void {
  for (const child of running) child.kill("SIGKILL");
  running.clear();
}
process.on("exit", killWorkers);

/**
 * What to start for a client: `worker.ts` for a Node client, or the Go program that
 * `prepareGoWorker` built. Both speak the same JSON lines.
 */
export type WorkerCommand = { client: NodeClientName; node: NodeWorker } | { client: "go"; bin: string };

export interface WorkerOptions {
  command: WorkerCommand;
  workload: string;
  endpoint: string;
  params: WorkloadParams;
  /** A worker with no result after this long is SIGKILLed and its run fails. */
  timeoutMs: number;
}

/**
 * A worker process: `ready` and `measuring` for the fan-in handshake, `result` for its figures.
 */
export interface WorkerProcess {
  readonly ready: Promise<void>;
  /** The fan-in writer's warm-up is over and its measured window has opened. */
  readonly measuring: Promise<void>;
  readonly result: Promise<Metrics>;
  send(line: string): void;
}

function spawnWorker(
  command: WorkerCommand,
  workload: string,
  endpoint: string,
  params: WorkloadParams,
): ChildProcessWithoutNullStreams {
  const args = [workload, endpoint, JSON.stringify(params)];
  const options: SpawnOptionsWithoutStdio = { cwd: import.meta.dirname, stdio: "pipe" };
  if (command.client === "go") return spawn(command.bin, args, options);
  // The clients run as users run them: compiled JavaScript, without a TypeScript loader (see
  // node-worker.ts).
  return spawn(
    process.execPath,
    [...command.node.execArgv, command.node.script, command.client, ...args],
    options,
  );
}

// JSON has no NaN: a figure that could not be taken arrives as null and becomes NaN again.
function toMetrics(result: Record<string, number | null>): Metrics {
  const metrics: Metrics = {};
  for (const [name, value] of Object.entries(result)) metrics[name] = value ?? Number.NaN;
  return metrics;
}

/**
 * Starts a worker for one client and workload. The worker exits by itself when its stdin
 * closes, so even a SIGKILLed bench leaves no worker behind; `timeoutMs` bounds a stuck one.
 */
export function startWorker({
  command,
  workload,
  endpoint,
  params,
  timeoutMs,
}: WorkerOptions): WorkerProcess {
  const client = command.client;
  const child = spawnWorker(command, workload, endpoint, params);
  running.add(child);
  const ready = deferred<void>();
  const measuring = deferred<void>();
  const result = deferred<Metrics>();
  // Handled here so an early failure is never an unhandled rejection; callers still see it.
  ready.promise.catch(() => undefined);
  measuring.promise.catch(() => undefined);
  const fail = (error: Error) => {
    ready.reject(error);
    measuring.reject(error);
    result.reject(error);
  };
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  createInterface({ input: child.stdout }).on("line", (line) => {
    let message: {
      ready?: boolean;
      measuring?: boolean;
      result?: Record<string, number | null>;
      error?: string;
    };
    try {
      message = JSON.parse(line) as typeof message;
    } catch {
      return; // not ours: a library printing to stdout
    }
    if (message.ready === true) ready.resolve();
    if (message.measuring === true) measuring.resolve();
    if (message.result !== undefined) result.resolve(toMetrics(message.result));
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
  // A binary that cannot be started (the Go build removed from its cache) never exits.
  child.on("error", (error) => {
    clearTimeout(timer);
    running.delete(child);
    fail(new Error(`${client} ${workload}: could not start the worker: ${error.message}`));
  });
  return {
    ready: ready.promise,
    measuring: measuring.promise,
    result: result.promise,
    send(line) {
      child.stdin.write(`${line}\n`);
    },
  };
}
