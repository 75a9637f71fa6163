import { invalidArgument } from "./errors.js";

/** An int64 given as a safe integer number or a bigint. */
export type Int64Like = number | bigint;

/** Checks and converts an int64 input: an integer (number or bigint) of at least `min`. */
export function toInt64(name: string, value: Int64Like, min = 0n): bigint {
  if (typeof value === "bigint") {
    if (value < min || value > 0x7fff_ffff_ffff_ffffn)
      throw invalidArgument(`${name} must be >= ${min}, got ${value}`);
    return value;
  }
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw invalidArgument(`${name} must be an integer, got ${String(value)}`);
  }
  if (BigInt(value) < min) throw invalidArgument(`${name} must be >= ${min}, got ${value}`);
  return BigInt(value);
}
