import { invalidArgument } from "./errors.js";

/**
 * The prefix of a target's keys: the target and a "/". Go's manager refuses keys outside it,
 * and we read only under it: Go 3.4's `List` and `NewWatchChannel` read the bare target as a
 * prefix, which also picks up other targets that start with the same text ("api" sees
 * "api-admin/..."); keys of this target are exactly the ones its manager may write.
 */
export function targetPrefix(target: string): string {
  if (typeof target !== "string" || target === "") {
    throw invalidArgument(
      `the target must be a non-empty string, got ${JSON.stringify(target) ?? String(target)}`,
    );
  }
  return `${target}/`;
}

/** Checks that `key` is a key of the target whose prefix is `prefix`, as Go's manager does. */
export function checkKey(prefix: string, key: string): void {
  if (typeof key !== "string") throw invalidArgument(`an endpoint key must be a string, got ${typeof key}`);
  if (!key.startsWith(prefix)) {
    throw invalidArgument(
      `endpoint key ${JSON.stringify(key)} is not under its target: it must start with ${JSON.stringify(prefix)}`,
    );
  }
}
