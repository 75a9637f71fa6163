import { onAbort } from "./on-abort.js";

/**
 * Settles as `promise` does, or rejects with the signal's reason as soon as it aborts, whichever
 * comes first. The listener is removed either way, so a long-lived signal collects none.
 */
export function raceSignal<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const unlink = onAbort(signal, () => reject(signal.reason));
    promise.then(
      (value) => {
        unlink();
        resolve(value);
      },
      (error: unknown) => {
        unlink();
        reject(error);
      },
    );
  });
}
