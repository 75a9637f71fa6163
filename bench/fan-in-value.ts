// A fan-in value carries its own send time, so a watcher in another process (Node or Go) can
// tell how long the event took to reach it: "<epoch ms with fraction>;" then padding. The time
// comes from `createWallClock()`; `go/main.go` reads the same prefix (sentAtMs there).

const semicolon = 0x3b;
const dot = 0x2e;
const zero = 0x30;
// Long enough for "<13 digits>.<3 digits>;"; a value without a send time is not scanned past it.
const maxPrefix = 24;

/** A value of `bytes` bytes that starts with `sentMs` (microsecond precision) and a ";". */
export function fanInValue(sentMs: number, bytes: number): Buffer {
  const value = Buffer.alloc(bytes, "f");
  value.write(`${sentMs.toFixed(3)};`, "latin1");
  return value;
}

/**
 * The send time at the head of a fan-in value; NaN when it carries none. Parsed from the bytes
 * without a string, since the watcher calls it for every event it counts.
 */
export function sentAtMs(value: Uint8Array): number {
  let whole = 0;
  let fraction = 0;
  let scale = 0; // 0 before the dot; after it 1, times 10 per fraction digit
  const end = Math.min(value.length, maxPrefix);
  for (let i = 0; i < end; i++) {
    const byte = value[i] as number;
    if (byte === semicolon) return i === 0 ? Number.NaN : whole + (scale > 1 ? fraction / scale : 0);
    if (byte === dot && scale === 0) {
      scale = 1;
      continue;
    }
    const digit = byte - zero;
    if (digit < 0 || digit > 9) return Number.NaN;
    if (scale === 0) whole = whole * 10 + digit;
    else {
      fraction = fraction * 10 + digit;
      scale *= 10;
    }
  }
  return Number.NaN;
}
