import {
  type CallOptions as ConnectCallOptions,
  createContextKey,
  createContextValues,
} from "@connectrpc/connect";
import { invalidArgument, toEtcdError } from "./errors.js";

/** Per-call options that every method takes. */
export interface CallOptions {
  /** Cancels the call. */
  signal?: AbortSignal;
  /** Deadline of this call in ms; overrides `requestTimeoutMs`. Clamped to what gRPC can carry. */
  timeoutMs?: number;
  /**
   * Whether a member without a leader should refuse this call (etcd's `hasleader` metadata, Go's
   * `clientv3.WithRequireLeader`), overriding the client's `requireLeader`. `false` lets a
   * serializable read be answered by a member cut off from its leader. Applies to unary calls
   * and to the streams a call opens itself (snapshot, `keepAliveOnce`); watches and kept leases
   * share one stream each and follow the client's setting. Default: the client's.
   */
  requireLeader?: boolean;
}

/**
 * A call's own `requireLeader`, in Connect's `contextValues`: set only when the caller gave one,
 * read by the transport that adds the `hasleader` header. Undefined: the client's setting.
 */
export const requireLeaderKey = createContextKey<boolean | undefined>(undefined, {
  description: "etcd-connect requireLeader",
});

/** The call options alone, from an options object that may carry more. */
export function pickCallOptions(options: CallOptions | undefined): CallOptions {
  const out: CallOptions = {};
  if (options?.signal !== undefined) out.signal = options.signal;
  if (options?.timeoutMs !== undefined) out.timeoutMs = options.timeoutMs;
  if (options?.requireLeader !== undefined) out.requireLeader = options.requireLeader;
  return out;
}

/**
 * The call options as a generated Connect client takes them. `requireLeader` travels in
 * `contextValues`, created only for a call that sets it: other calls allocate nothing for it.
 */
export function rpcCallOptions(options: CallOptions | undefined): ConnectCallOptions {
  const out: ConnectCallOptions = {};
  if (options?.signal !== undefined) out.signal = options.signal;
  if (options?.timeoutMs !== undefined) out.timeoutMs = options.timeoutMs;
  const requireLeader = options?.requireLeader;
  if (requireLeader !== undefined) {
    if (typeof requireLeader !== "boolean") throw invalidArgument("requireLeader must be a boolean");
    out.contextValues = createContextValues().set(requireLeaderKey, requireLeader);
  }
  return out;
}

/**
 * Runs a facade call and turns whatever it throws into an EtcdError. Requests are built inside
 * `fn`, so a validation error surfaces as a rejection too: callers see one failure path. Not an
 * async function: a `then` keeps no suspended frame per call.
 */
export function callEtcd<T>(
  options: CallOptions | undefined,
  fn: (call: ConnectCallOptions) => Promise<T>,
): Promise<T> {
  let pending: Promise<T>;
  try {
    pending = fn(rpcCallOptions(options));
  } catch (error) {
    return Promise.reject(toEtcdError(error));
  }
  return pending.then(undefined, rejectAsEtcdError);
}

function rejectAsEtcdError(error: unknown): never {
  throw toEtcdError(error);
}
