import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { readdir, readFile, rm } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { EtcdStartError } from "./etcd-start-error.js";
import type { FaultProxy } from "./fault-proxy.js";
import { waitForPortFree } from "./free-port.js";
import { keepAlive } from "./keep-alive.js";
import { LogRing } from "./log-ring.js";
import { registerCleanup } from "./process-registry.js";
import { type ClientTls, fetchHealth, fetchStatus, type MemberStatus } from "./request-json.js";
import type { TestCertificates } from "./test-certificates.js";
import { startWatchdog, type Watchdog } from "./watchdog.js";

/** @internal What startEtcd and startCluster hand to {@link EtcdMember}. */
export interface MemberSpec {
  readonly name: string;
  readonly bin: string;
  readonly dataDir: string;
  readonly host: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly clientUrl: string;
  readonly directClientUrl: string;
  readonly peerUrl: string;
  readonly directPeerUrl: string;
  /** etcd's command line; `existing` on restarts, where the data dir already holds the membership. */
  readonly args: (clusterState: "new" | "existing") => string[];
  readonly clientTls: ClientTls | undefined;
  readonly clientProxy: FaultProxy | undefined;
  readonly peerProxy: FaultProxy | undefined;
  readonly certificates: TestCertificates | undefined;
  readonly logFile: string | undefined;
  readonly logLines: number;
  readonly startupTimeoutMs: number;
  /** Extra cleanup on close(), e.g. certificates owned by a single member. */
  readonly onClose: (() => Promise<void>) | undefined;
}

/** Options for {@link EtcdMember.waitHealthy}. */
export interface WaitHealthyOptions {
  /** Give up after this long. Default: the `startupTimeoutMs` the member was started with (20000). */
  timeoutMs?: number;
  /** Stops waiting early. */
  signal?: AbortSignal;
}

/** Options for {@link EtcdMember.restart}. */
export interface RestartOptions {
  /**
   * Wait until the member is healthy again (`/health` and a known leader). Turn off when the member
   * cannot reach quorum on its own, e.g. when restarting several members of a stopped cluster. Default: `true`.
   */
  waitHealthy?: boolean;
  /** Bound for the health wait. Default: the member's `startupTimeoutMs` (20000). */
  timeoutMs?: number;
}

const stopGraceMs = 10_000;
const probeTimeoutMs = 1000;

/**
 * One etcd process started by {@link startEtcd} or {@link startCluster}. It keeps its name, ports and data
 * dir across {@link EtcdMember.restart}; only `pid` changes.
 */
export class EtcdMember {
  /** etcd's `--name`. */
  readonly name: string;
  /** The URL clients should use: through the client fault proxy when faults are on, else etcd's own port. */
  readonly clientUrl: string;
  /** etcd's own client URL, bypassing any fault proxy. */
  readonly directClientUrl: string;
  /** The peer URL the member advertises (its peer fault proxy when faults are on). */
  readonly peerUrl: string;
  /** etcd's own peer URL. */
  readonly directPeerUrl: string;
  /** The member's data dir, removed by {@link EtcdMember.close}. */
  readonly dataDir: string;
  /** Fault proxy in front of the client port, when faults are on. */
  readonly clientProxy: FaultProxy | undefined;
  /** Fault proxy in front of the peer port, when faults are on. */
  readonly peerProxy: FaultProxy | undefined;
  /** The certificates behind `https` client URLs, when TLS is on. */
  readonly certificates: TestCertificates | undefined;
  /** TLS settings a client needs for `clientUrl` (CA, plus a client identity under client-cert auth). */
  readonly clientTls: ClientTls | undefined;
  readonly #spec: MemberSpec;
  readonly #log: LogRing;
  readonly #unregister: () => void;
  #child: ChildProcess | undefined;
  #exit: Promise<void> = Promise.resolve();
  #exitDescription = "not started";
  #exited = true;
  #paused = false;
  #closed = false;
  #watchdog: Watchdog | undefined;
  #memberId: bigint | undefined;

  /** @internal Use {@link startEtcd} or {@link startCluster}; this spawns etcd at once. */
  constructor(spec: MemberSpec) {
    this.#spec = spec;
    this.name = spec.name;
    this.clientUrl = spec.clientUrl;
    this.directClientUrl = spec.directClientUrl;
    this.peerUrl = spec.peerUrl;
    this.directPeerUrl = spec.directPeerUrl;
    this.dataDir = spec.dataDir;
    this.clientProxy = spec.clientProxy;
    this.peerProxy = spec.peerProxy;
    this.certificates = spec.certificates;
    this.clientTls = spec.clientTls;
    this.#log = new LogRing(spec.logLines, spec.logFile);
    this.#unregister = registerCleanup(() => this.#killSync());
    this.#spawn("new");
  }

  /** Process id of the current (or last) etcd process. */
  get pid(): number {
    return this.#child?.pid ?? 0;
  }

  /** Whether the etcd process is alive (paused counts as alive). */
  get running(): boolean {
    return !this.#exited;
  }

  /** Whether the process is stopped by {@link EtcdMember.pause}. */
  get paused(): boolean {
    return this.#paused;
  }

  /** The member id etcd assigned, read once from `/v3/maintenance/status` and then cached. */
  async memberId(): Promise<bigint> {
    if (this.#memberId === undefined) this.#memberId = (await this.status({ timeoutMs: 5000 })).memberId;
    return this.#memberId;
  }

  /** The member's status from its JSON gateway (its own port, no fault proxy); `timeoutMs` defaults to 2000. */
  status(options: { timeoutMs?: number } = {}): Promise<MemberStatus> {
    return fetchStatus(this.directClientUrl, this.clientTls, options.timeoutMs ?? 2000);
  }

  /**
   * Resolves once `/health` reports healthy and the member knows a leader. Polls its own port every 100 ms.
   *
   * @throws {EtcdStartError} When the process exits or `timeoutMs` passes; carries the log tail.
   */
  async waitHealthy(options: WaitHealthyOptions = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? this.#spec.startupTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    let last = "no answer yet";
    for (;;) {
      options.signal?.throwIfAborted();
      if (this.#exited) {
        throw new EtcdStartError(`etcd member ${this.name} ${this.#exitDescription}`, this.#logs());
      }
      try {
        if (!(await fetchHealth(this.directClientUrl, this.clientTls, probeTimeoutMs)))
          last = "/health is false";
        else if ((await this.status({ timeoutMs: probeTimeoutMs })).leader === 0n) last = "no leader";
        else return;
      } catch (error) {
        last = error instanceof Error ? error.message : String(error);
      }
      if (Date.now() >= deadline) {
        throw new EtcdStartError(
          `etcd member ${this.name} was not healthy within ${timeoutMs} ms (last: ${last})`,
          this.#logs(),
        );
      }
      await sleep(100, undefined, options.signal === undefined ? {} : { signal: options.signal });
    }
  }

  /**
   * SIGTERM (etcd shuts down cleanly, handing over leadership), then SIGKILL if the process has not exited
   * within `timeoutMs` (default 10000). Resolves once it has exited.
   */
  async stop(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.#exited) return;
    this.#signal("SIGTERM");
    // A stopped process only acts on SIGTERM once continued.
    if (this.#paused) this.resume();
    if (!(await this.#waitExit(options.timeoutMs ?? stopGraceMs))) {
      this.#signal("SIGKILL");
      await keepAlive(this.#exit);
    }
  }

  /** SIGKILL. Resolves once the process has exited. */
  async kill(): Promise<void> {
    if (this.#exited) return;
    this.#signal("SIGKILL");
    this.#paused = false;
    await keepAlive(this.#exit);
  }

  /**
   * Freezes the process with SIGSTOP: it keeps its sockets but answers nothing. Resolves once
   * every thread of the process is stopped: the kernel stops them when they are next scheduled,
   * and on a loaded machine a request sent right after kill(2) was measured to be answered.
   */
  async pause(): Promise<void> {
    if (this.#exited) throw new Error(`etcd member ${this.name} is not running`);
    this.#signal("SIGSTOP");
    this.#paused = true;
    const pid = this.pid;
    const giveUpAt = Date.now() + 2_000;
    while (!(await allThreadsStopped(pid)) && Date.now() < giveUpAt) await sleep(1);
  }

  /** Continues a paused process with SIGCONT. */
  resume(): void {
    if (this.#exited || !this.#paused) return;
    this.#signal("SIGCONT");
    this.#paused = false;
  }

  /**
   * Starts the member again with the same name, ports and data dir. A running process is stopped first
   * ({@link EtcdMember.stop}); then this waits for its ports to be free.
   *
   * @throws {EtcdStartError} When the new process exits or is not healthy in time.
   */
  async restart(options: RestartOptions = {}): Promise<void> {
    if (this.#closed) throw new Error(`etcd member ${this.name} is closed`);
    await this.stop();
    const { host, clientPort, peerPort } = this.#spec;
    await Promise.all([waitForPortFree(clientPort, host, 10_000), waitForPortFree(peerPort, host, 10_000)]);
    this.#spawn("existing");
    if (options.waitHealthy ?? true) {
      await this.waitHealthy(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs });
    }
  }

  /** The last `lines` lines etcd logged (default: all kept, up to 200), with start and exit notes. */
  logTail(lines?: number): string {
    return this.#log.tail(lines);
  }

  /** Kills the process, closes its fault proxies and removes its data dir. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await keepAlive(
      (async () => {
        await this.kill();
        await Promise.all([this.clientProxy?.close(), this.peerProxy?.close()]);
        await rm(this.dataDir, { recursive: true, force: true });
        await this.#spec.onClose?.();
      })(),
    );
    this.#unregister();
  }

  /** Same as {@link EtcdMember.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #logs(): Record<string, string> {
    return { [this.name]: this.#log.tail(40) };
  }

  #spawn(clusterState: "new" | "existing"): void {
    const args = this.#spec.args(clusterState);
    const child = spawn(this.#spec.bin, args, { stdio: ["ignore", "ignore", "pipe"], env: etcdEnv() });
    this.#child = child;
    this.#exited = false;
    this.#paused = false;
    this.#exitDescription = "is running";
    this.#log.note(`started pid ${child.pid ?? "?"}: ${this.#spec.bin} ${args.join(" ")}`);
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => this.#log.push(chunk));
    // A forgotten member must not keep the test process alive; the exit hooks then kill it.
    child.unref();
    (child.stderr as { unref?: () => void } | null)?.unref?.();
    const watchdog = child.pid === undefined ? undefined : startWatchdog(child.pid, this.dataDir);
    this.#watchdog = watchdog;
    this.#exit = new Promise((resolve) => {
      let finished = false;
      const done = (description: string) => {
        if (finished) return;
        finished = true;
        this.#exited = true;
        this.#paused = false;
        this.#exitDescription = description;
        watchdog?.dismiss();
        this.#log.note(description);
        resolve();
      };
      // "close" rather than "exit": it waits for stderr to drain, so the log holds etcd's last words.
      child.once("close", (code, signal) => done(`exited (${signal ?? `code ${code}`})`));
      child.once("error", (error) => done(`failed to start: ${error.message}`));
    });
  }

  #signal(signal: NodeJS.Signals): void {
    this.#log.note(`sending ${signal}`);
    const pid = this.#child?.pid;
    if (pid === undefined || this.#exited) return;
    try {
      // process.kill, not ChildProcess.kill: Deno's ChildProcess.kill ignores every call after
      // the first, so a paused member could never be resumed or stopped there.
      process.kill(pid, signal);
    } catch {
      // Already gone: the exit handler records it.
    }
  }

  async #waitExit(timeoutMs: number): Promise<boolean> {
    const controller = new AbortController();
    const timedOut = sleep(timeoutMs, false, { signal: controller.signal }).catch(() => false);
    const exited = await Promise.race([this.#exit.then(() => true), timedOut]);
    controller.abort();
    return exited;
  }

  #killSync(): void {
    if (!this.#exited && this.#child?.pid !== undefined) {
      try {
        process.kill(this.#child.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    this.#watchdog?.dismiss();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** The environment for etcd: ours without ETCD_* variables, which etcd would read as flags. */
function etcdEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith("ETCD_")) env[key] = value;
  }
  return env;
}

// Whether every thread of a process is in the stopped state ("T" in /proc/<pid>/task/*/stat).
async function allThreadsStopped(pid: number): Promise<boolean> {
  try {
    const tasks = await readdir(`/proc/${pid}/task`);
    for (const tid of tasks) {
      const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, "utf8");
      // The state follows the command name, which is in parentheses and may hold any byte.
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      if (state !== "T" && state !== "t") return false;
    }
    return true;
  } catch {
    // Gone, or no /proc: nothing left to wait for.
    return true;
  }
}
