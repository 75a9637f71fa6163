import { Code } from "@connectrpc/connect";
import { EtcdError } from "@etcd-connect/client";

/**
 * The client's own error for bad input, so callers branch on `reason` the same way whether the
 * manager or the client refused the request.
 */
export function invalidArgument(message: string): EtcdError {
  return new EtcdError(message, Code.InvalidArgument, "invalid_argument");
}
