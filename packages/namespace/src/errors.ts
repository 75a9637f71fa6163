import { Code } from "@connectrpc/connect";
import { EtcdError } from "@etcd-connect/client";

/**
 * The client's own error for bad input, so callers branch on `reason` the same way whether a
 * namespace or the client refused the request.
 */
export function invalidArgument(message: string): EtcdError {
  return new EtcdError(message, Code.InvalidArgument, "invalid_argument");
}

/**
 * An answer of `method` that names a key outside the namespace. Only a misbehaving layer below
 * can send one. Where a list can drop such a key, the namespace drops it; a lock or leader key
 * is the whole answer, so it fails instead of handing one tenant another tenant's key. The key
 * stays out of the message: it came from the network, and it is someone else's. `aftermath`
 * says what the caller still holds, if anything.
 */
export function outsidePrefix(method: string, aftermath?: string): EtcdError {
  const message = `${method} answered with a key outside the namespace prefix`;
  return new EtcdError(
    aftermath === undefined ? message : `${message}; ${aftermath}`,
    Code.Internal,
    "unknown",
  );
}
