import { ConnectError } from "@connectrpc/connect";

/**
 * A ConnectError subclass that `instanceof` tells apart from other ConnectErrors. Its name stays
 * "ConnectError", because Connect recognises its errors by name and shape (`ConnectError.from`
 * passes it through unchanged); Connect's own brand check would therefore take any ConnectError
 * for a subclass, so subclasses check the prototype chain instead.
 */
export abstract class TypedConnectError extends ConnectError {
  static override [Symbol.hasInstance](value: unknown): boolean {
    // `this` is the class `instanceof` was asked about: the subclass, not this base.
    // biome-ignore lint/complexity/noThisInStatic: the subclass is exactly what must be checked.
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }
}
