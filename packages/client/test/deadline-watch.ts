// How late a call settled after its deadline, counted from when a timer set for that deadline
// fired rather than from the clock: on a loaded machine both timers fire late together, so load
// does not read as lateness, while a call that ignores its deadline runs on past the timer.

/**
 * Starts a timer for a deadline `ms` from now. The returned function, called when the call
 * settles, stops it and answers how many ms after it fired the call settled (0 if it had not).
 */
export function watchDeadline(ms: number): () => number {
  let passedAt: number | undefined;
  const timer = setTimeout(() => {
    passedAt = Date.now();
  }, ms);
  return () => {
    clearTimeout(timer);
    return passedAt === undefined ? 0 : Date.now() - passedAt;
  };
}
