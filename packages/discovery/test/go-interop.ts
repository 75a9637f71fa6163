// Go's clientv3/naming/endpoints as a program the interop tests run: `go/main.go`, built with
// Debian's Go and etcd sources in GOPATH mode (no network, no go.mod of ours), as the bench
// builds its Go client (`buildGoProgram` of @etcd-connect/testing): cached by a hash of everything
// that makes it what it is, so only the first run on a machine compiles clientv3 (about 20 s).
import { type ChildProcessWithoutNullStreams, execFile, spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { createInterface } from "node:readline";
import { buildGoProgram, debianGopath } from "@etcd-connect/testing";

const goDir = join(import.meta.dirname, "go");
const gopath = debianGopath;
// golang-etcd-server-dev's naming/endpoints (etcd 3.4); its presence means the whole tree is there.
const endpointsSource = join(gopath, "src/go.etcd.io/etcd/clientv3/naming/endpoints/endpoints_impl.go");
const buildTimeoutMs = 600_000;

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** What is missing to build the Go side, or undefined when nothing is. */
export function missingGo(): string | undefined {
  const absent: string[] = [];
  const onPath = (process.env.PATH ?? "")
    .split(delimiter)
    .some((dir) => dir !== "" && executable(join(dir, "go")));
  if (!onPath) absent.push("go on PATH");
  try {
    accessSync(endpointsSource, constants.R_OK);
  } catch {
    absent.push(endpointsSource);
  }
  if (absent.length === 0) return undefined;
  return `missing ${absent.join(" and ")}: install Go and etcd's Go sources (Debian/Ubuntu: apt-get install golang-go golang-etcd-server-dev)`;
}

/**
 * Suite options: skipped with the reason when Go is missing, unless ETCD_REQUIRED=1 (as in CI),
 * where the suite runs and its `before` fails with the same reason.
 */
export function goSuiteOptions(etcd: { skip?: string }): { skip?: string } {
  if (etcd.skip !== undefined) return etcd;
  const missing = missingGo();
  if (missing === undefined || process.env.ETCD_REQUIRED === "1") return {};
  return { skip: missing };
}

function run(
  file: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      {
        cwd: options.cwd,
        env: options.env,
        timeout: options.timeoutMs,
        encoding: "utf8",
        maxBuffer: 16 << 20,
      },
      (error, stdout, stderr) =>
        resolve({ ok: error === null, stdout, stderr: stderr || (error?.message ?? "") }),
    );
  });
}

/** Builds `go/main.go` (or finds it built); rejects with the reason when it cannot. */
export async function buildGoInterop(): Promise<string> {
  const missing = missingGo();
  if (missing !== undefined) throw new Error(`ETCD_REQUIRED=1: ${missing}`);
  return buildGoProgram({
    dir: goDir,
    name: "discovery-interop",
    gopath,
    cacheDir: join(tmpdir(), "etcd-connect-discovery-go"),
    // The manager's source stands for the etcd sources the program is built against.
    hashInputs: [await readFile(endpointsSource, "utf8")],
    timeoutMs: buildTimeoutMs,
  });
}

/** One endpoint as the Go program prints it. */
export interface GoEntry {
  op?: "add" | "delete";
  key: string;
  addr: string;
  metadata: unknown;
}

/** The Go program, for one command run to its end: its JSON lines. */
export async function runGo(bin: string, args: readonly string[]): Promise<unknown[]> {
  const result = await run(bin, args, { timeoutMs: 60_000 });
  if (!result.ok) throw new Error(`discovery-interop ${args.join(" ")} failed: ${result.stderr}`);
  return result.stdout
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as unknown);
}

/** Go's `NewWatchChannel`, running: each batch of updates it delivers, in order. */
export class GoWatch {
  readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: unknown[] = [];
  private waiting: (() => void) | undefined;
  private exited = false;
  stderr = "";

  constructor(bin: string, args: readonly string[]) {
    this.child = spawn(bin, args);
    this.child.stderr.on("data", (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    createInterface({ input: this.child.stdout }).on("line", (line) => {
      this.lines.push(JSON.parse(line));
      this.waiting?.();
    });
    this.child.on("close", () => {
      this.exited = true;
      this.waiting?.();
    });
  }

  /** The next line; rejects if the program exits first. */
  async next(): Promise<unknown> {
    while (this.lines.length === 0) {
      if (this.exited) throw new Error(`discovery-interop watch exited; stderr: ${this.stderr}`);
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
      });
      this.waiting = undefined;
    }
    return this.lines.shift();
  }

  /** Closes stdin (the program's signal to stop) and waits for the exit; SIGKILL if it lingers. */
  async close(): Promise<void> {
    if (this.exited) return;
    const closed = new Promise<void>((resolve) => this.child.once("close", () => resolve()));
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    await closed;
    clearTimeout(timer);
  }
}
