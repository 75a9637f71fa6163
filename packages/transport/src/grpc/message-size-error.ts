import { Code } from "@connectrpc/connect";
import { TypedConnectError } from "../http2/typed-connect-error.js";

/**
 * A message over a configured size limit: `direction` "read" for a response (readMaxBytes),
 * "write" for a request (writeMaxBytes). ResourceExhausted, as in Connect.
 */
export class MessageSizeError extends TypedConnectError {
  readonly direction: "read" | "write";
  readonly size: number;
  readonly limit: number;

  constructor(direction: "read" | "write", size: number, limit: number) {
    super(
      `message size ${size} is larger than configured ${direction}MaxBytes ${limit}`,
      Code.ResourceExhausted,
    );
    this.direction = direction;
    this.size = size;
    this.limit = limit;
  }
}
