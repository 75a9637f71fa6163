// Polling waits for the adversarial tests: conditions on recorded frames have no events.

/** Resolves true once `ready()` holds, false after `timeoutMs`. */
export async function waitUntil(ready: () => boolean, timeoutMs: number): Promise<boolean> {
  const giveUpAt = Date.now() + timeoutMs;
  while (!ready()) {
    if (Date.now() >= giveUpAt) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return true;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
