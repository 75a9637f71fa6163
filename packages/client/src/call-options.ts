import { toEtcdError } from "./errors.js";

/** Per-call options that every method takes. */
export interface CallOptions {
  /** Cancels the call. */
  signal?: AbortSignal;
  /** Deadline of this call in ms; overrides `requestTimeoutMs`. Clamped to what gRPC can carry. */
  timeoutMs?: number;
}

/** The call options alone, from an options object that may carry more. */
export function pickCallOptions(options: CallOptions | undefined): CallOptions {
  const out: CallOptions = {};
  if (options?.signal !== undefined) out.signal = options.signal;
  if (options?.timeoutMs !== undefined) out.timeoutMs = options.timeoutMs;
  return out;
}

/**
 * Runs a facade call and turns whatever it throws into an EtcdError. Requests are built inside
 * `fn`, so a validation error surfaces as a rejection too: callers see one failure path.
 */
export async function callEtcd<T>(
  options: CallOptions | undefined,
  fn: (call: CallOptions) => Promise<T>,
): Promise<T> {
  try {
    return await fn(pickCallOptions(options));
  } catch (error) {
    throw toEtcdError(error);
  }
}
