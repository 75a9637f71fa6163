import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextKey, type Interceptor } from "@connectrpc/connect";

const paths = new WeakMap<DescMethod, string>();

/** The HTTP/2 `:path` of a method, `/package.Service/Method`, built once per method. */
export function methodPath(method: DescMethod): string {
  let path = paths.get(method);
  if (path === undefined) {
    path = `/${method.parent.typeName}/${method.name}`;
    paths.set(method, path);
  }
  return path;
}

/** Wraps `next` in the interceptors, outermost first, once for every call to come. */
export function applyInterceptors<F>(interceptors: readonly Interceptor[], next: F): F {
  let chain = next;
  for (let i = interceptors.length - 1; i >= 0; i--)
    chain = (interceptors[i] as Interceptor)(chain as never) as F;
  return chain;
}

/** Largest deadline the 8-digit `grpc-timeout` header can carry in ms. */
export const maxTimeoutMs = 99_999_999;

/**
 * A timeout as gRPC can carry it: whole milliseconds, rounded up, at most {@link maxTimeoutMs}.
 * Undefined, zero and negative values pass through (no deadline).
 */
export function clampTimeoutMs(timeoutMs: number | undefined): number | undefined {
  return timeoutMs === undefined || timeoutMs <= 0 ? timeoutMs : Math.min(Math.ceil(timeoutMs), maxTimeoutMs);
}

/**
 * A call's deadline: sets `grpc-timeout` and returns a controller that aborts with a
 * DeadlineExceeded ConnectError, so whatever reads the signal (dialling, interceptors) sees the
 * deadline rather than a bare abort. The caller clears `timer` when the call ends early.
 */
export function startDeadline(
  headers: Headers,
  timeoutMs: number,
): { controller: AbortController; timer: NodeJS.Timeout } {
  headers.set("grpc-timeout", `${timeoutMs}m`);
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded)),
    timeoutMs,
  );
  return { controller, timer };
}

/**
 * An error status as the caller should read it: one that the server sent after the call's own
 * deadline had passed is the deadline's. The server's timer starts when our request arrives, so
 * it fires after ours; a busy event loop can still read its answer before our timer runs, and etcd
 * ends a watch at its deadline with Unknown ("context deadline exceeded"), not DeadlineExceeded.
 */
export function statusAfterDeadline(error: ConnectError, deadline: number | undefined): ConnectError {
  if (deadline === undefined || error.code === Code.DeadlineExceeded || Date.now() < deadline) return error;
  return new ConnectError("the operation timed out", Code.DeadlineExceeded, error.metadata, undefined, error);
}

/**
 * The call's deadline as data, in its `contextValues`: epoch ms, or undefined for a call without
 * one. Layers above the transport (a retry interceptor, a balancer waiting for a member) read it
 * here rather than inferring it from the `grpc-timeout` header.
 */
export const deadlineKey = createContextKey<number | undefined>(undefined, { description: "call deadline" });
