import { Code, ConnectError } from "@connectrpc/connect";

// Failures of streams the server never processed: sending them again cannot apply a write twice.
const unprocessed = new WeakSet<object>();

/**
 * True when a stream failed before the server processed it: REFUSED_STREAM, a stream above
 * a GOAWAY's last stream id, or one that was still waiting for a stream slot.
 */
export function isUnprocessed(error: unknown): boolean {
  for (let e: unknown = error; typeof e === "object" && e !== null; e = (e as { cause?: unknown }).cause) {
    if (unprocessed.has(e)) return true;
  }
  return false;
}

/** An Unavailable error marked as {@link isUnprocessed}. */
export function unprocessedError(message: string): ConnectError {
  const error = new ConnectError(message, Code.Unavailable);
  unprocessed.add(error);
  return error;
}
