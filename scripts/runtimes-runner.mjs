// The processes of scripts/runtimes.mjs: each run in its own process group, so that a timeout or a
// Ctrl-C takes down everything the run started, and every process marked, so that whatever outlives
// its run (an etcd member, a watchdog, a runtime) can be found and killed at the end.
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";

/** The last this many characters of each output stream are kept. */
const keptOutput = 1_000_000;
/** After SIGTERM, a run gets this long before SIGKILL. */
const termGraceMs = 5000;

/**
 * Creates a runner for commands in `cwd`.
 *
 * `run(cmd, args, { env, timeoutMs = 600000, stallMs, cwd })` resolves with `{ code, signal, error,
 * timedOut, seconds, stdout, stderr, all }` once the command ends, its timeout passes, or it printed
 * nothing for `stallMs` (Deno's own "has been running for over" notices do not count); `timedOut`
 * then says which. It never rejects.
 */
export function createRunner({ cwd }) {
  const running = new Set();
  // etcd members inherit their test's environment but for ETCD_*, so the marker reaches them too.
  const marker = { RUNTIMES_RUN: randomUUID() };
  const markerText = `RUNTIMES_RUN=${marker.RUNTIMES_RUN}`;

  function killGroup(child, signal) {
    try {
      process.kill(-child.pid, signal);
    } catch {
      // Already gone.
    }
  }

  function run(cmd, args, { env = {}, timeoutMs = 600_000, stallMs, cwd: dir = cwd } = {}) {
    return new Promise((done) => {
      const started = performance.now();
      const child = spawn(cmd, args, {
        cwd: dir,
        env: { ...process.env, ...env, ...marker },
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
      });
      running.add(child);
      const streams = { stdout: "", stderr: "", all: "" };
      let lastOutput = performance.now();
      const keep = (name) => (chunk) => {
        streams[name] = (streams[name] + chunk).slice(-keptOutput);
        streams.all = (streams.all + chunk).slice(-keptOutput);
        if (!/has been running for over/.test(chunk)) lastOutput = performance.now();
      };
      child.stdout.setEncoding("utf8").on("data", keep("stdout"));
      child.stderr.setEncoding("utf8").on("data", keep("stderr"));
      let timedOut;
      let killTimer;
      const stop = (why) => {
        if (timedOut !== undefined) return;
        timedOut = why;
        killGroup(child, "SIGTERM");
        killTimer = setTimeout(() => killGroup(child, "SIGKILL"), termGraceMs);
      };
      const timer = setTimeout(() => stop(`timed out after ${(timeoutMs / 1000).toFixed(0)} s`), timeoutMs);
      const stallTimer =
        stallMs === undefined
          ? undefined
          : setInterval(() => {
              const quiet = performance.now() - lastOutput;
              if (quiet >= stallMs) stop(`stuck: no output for ${(quiet / 1000).toFixed(0)} s`);
            }, 1000);
      const finish = (code, signal, error) => {
        clearTimeout(timer);
        clearInterval(stallTimer);
        clearTimeout(killTimer);
        running.delete(child);
        done({ code, signal, error, timedOut, seconds: (performance.now() - started) / 1000, ...streams });
      };
      child.on("error", (error) => finish(null, null, error));
      child.on("close", (code, signal) => finish(code, signal));
    });
  }

  /** Signals the process group of every run still going. */
  function stopAll(signal) {
    for (const child of running) killGroup(child, signal);
  }

  /** Processes that still carry this runner's marker, as `{ pid, cmd }`. Linux only (reads /proc). */
  function leftovers() {
    if (!existsSync("/proc")) return [];
    const found = [];
    for (const pid of readdirSync("/proc")) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        if (!readFileSync(`/proc/${pid}/environ`, "latin1").split("\0").includes(markerText)) continue;
        const cmd = readFileSync(`/proc/${pid}/cmdline`, "latin1").replaceAll("\0", " ").trim();
        found.push({ pid: Number(pid), cmd });
      } catch {
        // Gone meanwhile, or not ours to read.
      }
    }
    return found;
  }

  /** SIGKILLs every leftover and returns them. */
  function killLeftovers() {
    const found = leftovers();
    for (const { pid } of found) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Gone meanwhile.
      }
    }
    return found;
  }

  return { run, stopAll, leftovers, killLeftovers };
}
