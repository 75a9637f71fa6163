/**
 * Last-resort cleanup for everything the testing package starts: when the process exits, receives SIGINT or
 * SIGTERM, or dies of an uncaught exception, each registered cleanup runs synchronously.
 */
const cleanups = new Set<() => void>();
let installed = false;

/** Registers a synchronous cleanup; the returned function unregisters it. */
export function registerCleanup(cleanup: () => void): () => void {
  install();
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

function runAll(): void {
  for (const cleanup of cleanups) {
    try {
      cleanup();
    } catch {
      // Best effort: one failing cleanup must not stop the others.
    }
  }
  cleanups.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on("exit", runAll);
  // The monitor variant observes without changing how Node reports and exits.
  process.on("uncaughtExceptionMonitor", runAll);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      runAll();
      // Our listener replaced Node's default (exit); restore it unless someone else handles the signal.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}
