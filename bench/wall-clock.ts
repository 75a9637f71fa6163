// The fan-in writer stamps each value with the wall clock and the watcher, in another process,
// subtracts it from its own: both must read the machine's clock to well under a millisecond.
//
// `performance.timeOrigin + performance.now()` is that clock only as well as the time origin,
// which Node takes once at startup from a monotonic and a wall-clock reading, a moment apart.
// On this 2-core VM under the bench's load the moment is sometimes long: one etcd3 watcher's
// origin was 19 ms ahead of `Date.now()` for its whole life, and its median delivery latency
// read 20 ms against about 1.2 ms in the other rounds; another round's median read -0.42 ms. So
// each process anchors `performance.now()` to the wall clock itself, at the instant `Date.now()`
// turns to the next millisecond, and keeps the tightest of a few such readings.

// Each reading waits for a millisecond to turn: the calibration costs up to this many ms.
const readings = 5;

/**
 * A clock of epoch milliseconds with a fraction, on the machine's wall clock (what Go's
 * `time.Now()` reads), advancing with `performance.now()`. Busy-waits up to 5 ms to calibrate.
 */
export function createWallClock(): () => number {
  let origin = performance.timeOrigin;
  let narrowest = Number.POSITIVE_INFINITY;
  for (let reading = 0; reading < readings; reading++) {
    let before = performance.now();
    let wall = Date.now();
    for (;;) {
      const read = performance.now();
      const next = Date.now();
      if (next !== wall) {
        // The millisecond turned after the Date.now() that follows `before` and before `after`.
        const after = performance.now();
        if (after - before < narrowest) {
          narrowest = after - before;
          origin = next - (before + after) / 2;
        }
        break;
      }
      before = read;
      wall = next;
    }
  }
  return () => origin + performance.now();
}
