import { onAbort } from "@etcd-connect/transport";

/** Delay with +/- `jitter` share of randomness, e.g. 25 ms with 0.1 gives 22.5 to 27.5 ms. */
export function jittered(delayMs: number, jitter: number): number {
  return delayMs * (1 + jitter * (2 * Math.random() - 1));
}

/** Exponential backoff: base * 2^attempt, capped, with jitter. */
export function exponentialBackoff(attempt: number, baseMs: number, capMs: number, jitter = 0.2): number {
  return jittered(Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30)), jitter);
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    // Many retrying calls may pause on one application signal: one listener on it for all.
    const unlink =
      signal === undefined
        ? undefined
        : onAbort(signal, () => {
            clearTimeout(timer);
            reject(signal.reason);
          });
    const timer = setTimeout(() => {
      unlink?.();
      resolve();
    }, ms);
  });
}
