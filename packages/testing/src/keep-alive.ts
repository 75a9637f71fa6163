/**
 * Awaits `work` while holding a referenced timer. Processes, pipes and proxy sockets are unref'd so that a
 * forgotten member cannot keep a test process alive; waiting on them alone would let Node exit mid-await.
 */
export async function keepAlive<T>(work: Promise<T>): Promise<T> {
  const timer = setInterval(() => undefined, 60_000);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}
