// A Go program beside the tests, built the way Debian packages Go libraries: GOPATH mode over
// /usr/share/gocode (golang-go plus golang-*-dev packages), so the build needs no network and no
// go.mod. Interop tests and the bench use it to run etcd's own Go client next to ours.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { access, mkdir, readFile, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Options of {@link buildGoProgram}. */
export interface GoProgramOptions {
  /** The folder holding the program's `main.go`. */
  dir: string;
  /** The cached binary's name, before its hash. */
  name: string;
  /** Where the imported packages' sources are. Default: `/usr/share/gocode` (Debian's). */
  gopath?: string | undefined;
  /** Where binaries are kept between runs. Default: `etcd-connect-go` in the temp folder. */
  cacheDir?: string | undefined;
  /**
   * More of what makes the binary what it is, such as the version of the sources it imports:
   * a change to any of it builds anew. The program's source and `go version` always count.
   */
  hashInputs?: readonly string[] | undefined;
  /** Bound on the build, in ms. Default: 600,000 (a cold build of etcd's client takes ~20 s). */
  timeoutMs?: number | undefined;
}

/** The default GOPATH: where Debian's golang-*-dev packages put Go sources. */
export const debianGopath = "/usr/share/gocode";

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
        encoding: "utf8",
        maxBuffer: 16 << 20,
      },
      (error, stdout, stderr) =>
        resolve({ ok: error === null, stdout, stderr: stderr || (error?.message ?? "") }),
    );
  });
}

// The first lines of a tool's output: enough to say why, short enough for an error message.
function firstLines(text: string): string {
  return text.trim().split("\n").slice(0, 5).join("\n");
}

/**
 * Builds `main.go` of `options.dir` in GOPATH mode (`GO111MODULE=off`), or finds it built: the
 * binary is cached under a hash of the program, `go version` and `hashInputs`, so only the first
 * run on a machine compiles. Concurrent builds never run a half-written file.
 * @returns The binary's path.
 * @throws Error saying why when Go is missing or the build fails.
 */
export async function buildGoProgram(options: GoProgramOptions): Promise<string> {
  const gopath = options.gopath ?? debianGopath;
  const goVersion = await runCommand("go", ["version"], { timeoutMs: 30_000 });
  if (!goVersion.ok) throw new Error(`go version failed: ${firstLines(goVersion.stderr)}`);
  const hash = createHash("sha256").update(await readFile(join(options.dir, "main.go")));
  for (const input of [goVersion.stdout.trim(), gopath, ...(options.hashInputs ?? [])])
    hash.update(`\0${input}`);
  const cacheDir = options.cacheDir ?? join(tmpdir(), "etcd-connect-go");
  await mkdir(cacheDir, { recursive: true });
  const bin = join(cacheDir, `${options.name}-${hash.digest("hex").slice(0, 16)}`);
  if (
    await access(bin, constants.X_OK).then(
      () => true,
      () => false,
    )
  ) {
    return bin;
  }
  // Built under a name of its own, then renamed: a concurrent run never starts a half-written file.
  const partial = `${bin}.${process.pid}.partial`;
  const build = await runCommand("go", ["build", "-o", partial, "main.go"], {
    cwd: options.dir,
    env: {
      ...process.env,
      GO111MODULE: "off",
      GOPATH: gopath,
      GOCACHE: join(cacheDir, "gocache"),
      // Flags meant for module builds (-mod=...) would fail a GOPATH build.
      GOFLAGS: "",
    },
    timeoutMs: options.timeoutMs ?? 600_000,
  });
  if (!build.ok) {
    await rm(partial, { force: true });
    throw new Error(`go build of ${join(options.dir, "main.go")} failed: ${firstLines(build.stderr)}`);
  }
  await rename(partial, bin);
  return bin;
}
