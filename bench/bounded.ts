/**
 * Runs `task` `count` times, at most `concurrency` at once, each started as soon as one ends;
 * rejects with the first failure (tasks already started run on).
 */
export async function runBounded(
  count: number,
  concurrency: number,
  task: () => Promise<void>,
): Promise<void> {
  let started = 0;
  const loop = async () => {
    while (started < count) {
      started++;
      await task();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, loop));
}
