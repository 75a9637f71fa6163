import { Code, type ConnectError } from "@connectrpc/connect";
import { TypedConnectError } from "./typed-connect-error.js";

/**
 * A stream the server never processed: REFUSED_STREAM, a stream above a GOAWAY's last stream id,
 * or one still waiting for a stream slot when the connection went. Sending it again cannot apply
 * a write twice. Always Unavailable.
 */
export class UnprocessedStreamError extends TypedConnectError {
  constructor(message: string) {
    super(message, Code.Unavailable);
  }
}

/** True when `error`, or an error in its `cause` chain, is an {@link UnprocessedStreamError}. */
export function isUnprocessed(error: unknown): boolean {
  for (let e: unknown = error; typeof e === "object" && e !== null; e = (e as { cause?: unknown }).cause) {
    if (e instanceof UnprocessedStreamError) return true;
  }
  return false;
}

/** An {@link UnprocessedStreamError}. */
export function unprocessedError(message: string): ConnectError {
  return new UnprocessedStreamError(message);
}
