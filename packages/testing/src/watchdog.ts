import { spawn } from "node:child_process";

/** A helper process that kills a child and removes its data dir when this process dies, however it dies. */
export interface Watchdog {
  /** Ends the watchdog without touching the child (call once the child has exited). */
  dismiss(): void;
}

const script = 'read -r _ignored; kill -9 "$1" 2>/dev/null; rm -rf -- "$2"';

/**
 * Starts a detached `sh` that blocks reading a pipe whose only writer is this process. When this process
 * ends, even by SIGKILL, the kernel closes the pipe, `read` returns, and the shell SIGKILLs `pid` and
 * removes `dataDir`. No polling.
 */
export function startWatchdog(pid: number, dataDir: string): Watchdog {
  const shell = spawn("/bin/sh", ["-c", script, "etcd-watchdog", String(pid), dataDir], {
    // Detached: a Ctrl-C to our process group must not take the watchdog down before it acts.
    detached: true,
    stdio: ["pipe", "ignore", "ignore"],
  });
  shell.on("error", () => undefined);
  shell.stdin?.on("error", () => undefined);
  // The watchdog must never keep this process alive.
  shell.unref();
  (shell.stdin as { unref?: () => void } | null)?.unref?.();
  return {
    dismiss() {
      // Kill first: closing our end of the pipe while the shell lives would make it fire.
      if (shell.exitCode === null && shell.signalCode === null) {
        shell.once("exit", () => shell.stdin?.destroy());
        shell.kill("SIGKILL");
      } else {
        shell.stdin?.destroy();
      }
    },
  };
}
