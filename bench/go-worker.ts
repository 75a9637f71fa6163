// Go's etcd client as the bench's third client: `go/main.go` built with Debian's Go and etcd
// sources in GOPATH mode, so the build needs no network and no go.mod of ours. Nothing here
// throws: without Go the bench runs the Node clients and says why Go is missing.
import { execFile } from "node:child_process";
import { constants } from "node:fs";
import { access, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { buildGoProgram } from "@etcd-connect/testing";

/** The built Go worker and the client it measures, or why there is none. */
export type GoWorker =
  | { available: true; bin: string; version: string }
  | { available: false; reason: string };

const goDir = join(import.meta.dirname, "go");
const defaultGopath = "/usr/share/gocode";
// golang-etcd-server-dev's clientv3 (etcd 3.4); its presence means the whole tree is there.
const clientv3File = "src/go.etcd.io/etcd/clientv3/client.go";
const etcdVersionFile = "src/go.etcd.io/etcd/version/version.go";
const debianPackages = ["golang-go", "golang-etcd-server-dev"];
const aptTimeoutMs = 900_000;

interface CommandResult {
  ok: boolean;
  stdout: string;
  /** stderr, or the spawn error when there is none (a missing program, a timeout). */
  stderr: string;
}

function runCommand(
  file: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      {
        cwd: options.cwd,
        env: options.env,
        timeout: options.timeoutMs,
        maxBuffer: 16 * 1024 * 1024,
        encoding: "utf8",
      },
      (error, stdout, stderr) => {
        const why = stderr.trim() || (error === null ? "" : error.message);
        resolve({ ok: error === null, stdout, stderr: why });
      },
    );
  });
}

/** The first lines of a command's output: enough to say why, short enough for a table header. */
function firstLines(text: string, count = 3): string {
  return text.trim().split("\n").slice(0, count).join(" / ");
}

async function exists(path: string, mode = constants.F_OK): Promise<boolean> {
  try {
    await access(path, mode);
    return true;
  } catch {
    return false;
  }
}

async function onPath(program: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir !== "" && (await exists(join(dir, program), constants.X_OK))) return true;
  }
  return false;
}

/** What of Go and clientv3's sources is missing; empty when nothing is. */
async function missing(gopath: string): Promise<string[]> {
  const absent: string[] = [];
  if (!(await onPath("go"))) absent.push("go on PATH");
  const clientv3 = join(gopath, clientv3File);
  if (!(await exists(clientv3))) absent.push(clientv3);
  return absent;
}

/** Installs Debian's Go and etcd sources; undefined when that worked, else why not. */
async function aptInstall(log: (line: string) => void): Promise<string | undefined> {
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = () =>
    runCommand("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...debianPackages], {
      env,
      timeoutMs: aptTimeoutMs,
    });
  log(`go: installing ${debianPackages.join(" ")} with apt-get`);
  let result = await install();
  if (result.ok) return undefined;
  // A fresh machine often has no package lists yet.
  log("go: apt-get install failed; apt-get update, then once more");
  const update = await runCommand("apt-get", ["update", "-qq"], { env, timeoutMs: aptTimeoutMs });
  if (!update.ok) return `apt-get update failed: ${firstLines(update.stderr)}`;
  result = await install();
  return result.ok ? undefined : `apt-get install failed: ${firstLines(result.stderr)}`;
}

/** "3.4.23" from etcd's version.go (`Version = "3.4.23"`, in a var block in 3.4). */
async function clientv3Version(gopath: string): Promise<string> {
  const text = await readFile(join(gopath, etcdVersionFile), "utf8").catch(() => "");
  return /^\s*(?:const\s+|var\s+)?Version\s*=\s*"([^"]+)"/m.exec(text)?.[1] ?? "unknown";
}

async function prepare(log: (line: string) => void): Promise<GoWorker> {
  if (process.env.BENCH_GO === "0") return { available: false, reason: "turned off by BENCH_GO=0" };
  const gopath = process.env.BENCH_GOPATH ?? defaultGopath;
  let absent = await missing(gopath);
  if (absent.length > 0) {
    const canInstall = process.getuid?.() === 0 && (await onPath("apt-get"));
    if (!canInstall) {
      return {
        available: false,
        reason: `missing ${absent.join(" and ")}; install ${debianPackages.join(" and ")} (needs root and apt-get)`,
      };
    }
    const failed = await aptInstall(log);
    if (failed !== undefined) return { available: false, reason: failed };
    absent = await missing(gopath);
    if (absent.length > 0) {
      return { available: false, reason: `still missing after apt-get install: ${absent.join(" and ")}` };
    }
  }
  const goVersion = await runCommand("go", ["version"], { timeoutMs: 30_000 });
  if (!goVersion.ok)
    return { available: false, reason: `go version failed: ${firstLines(goVersion.stderr)}` };
  const goRelease = /\bgo\d+(?:\.\d+)*\S*/.exec(goVersion.stdout.replace(/^go version /, ""))?.[0] ?? "go?";
  const version = `clientv3 ${await clientv3Version(gopath)} (${goRelease})`;

  const started = performance.now();
  try {
    // Cached by the program, the compiler and the sources it is built against.
    const bin = await buildGoProgram({
      dir: goDir,
      name: "clientv3-bench",
      gopath,
      cacheDir: process.env.BENCH_GO_CACHE ?? join(tmpdir(), "etcd-connect-bench-go"),
      hashInputs: [version],
    });
    log(`go: ${version} in ${((performance.now() - started) / 1000).toFixed(1)} s (built or cached): ${bin}`);
    return { available: true, bin, version };
  } catch (error) {
    return { available: false, reason: firstLines(error instanceof Error ? error.message : String(error)) };
  }
}

/**
 * Makes the Go worker ready: installs Go and clientv3's sources when they are missing and this
 * process may (root, apt-get), then builds `go/main.go` into a cache (`BENCH_GO_CACHE`, default
 * `etcd-connect-bench-go` in the temp folder), reusing an earlier build of the same source with
 * the same Go. `BENCH_GO=0` turns Go off; `BENCH_GOPATH` (default `/usr/share/gocode`) points
 * at other sources. Never rejects: whatever fails becomes the reason Go is not available.
 */
export async function prepareGoWorker(log: (line: string) => void): Promise<GoWorker> {
  try {
    return await prepare(log);
  } catch (error) {
    return { available: false, reason: error instanceof Error ? error.message : String(error) };
  }
}
