import { Code, ConnectError } from "@connectrpc/connect";

/**
 * A message over a configured size limit: `direction` "read" for a response (readMaxBytes),
 * "write" for a request (writeMaxBytes). ResourceExhausted, as in Connect.
 */
export class MessageSizeError extends ConnectError {
  // The name stays "ConnectError": Connect recognises its errors by name and shape.
  // Connect's brand check would take any ConnectError for this class: use the prototype chain.
  static override [Symbol.hasInstance](value: unknown): boolean {
    return Function.prototype[Symbol.hasInstance].call(MessageSizeError, value);
  }

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
