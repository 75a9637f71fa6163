import {
  type ContextValues,
  createContextValues,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import { runStreamingCall, runUnaryCall } from "@connectrpc/connect/protocol";
import { clampTimeoutMs, deadlineKey, onAbort } from "@etcd-connect/transport";
import { requireLeaderKey } from "../call-options.js";
import { ClientClosedError } from "../errors.js";
import { unaryTimeoutMs } from "./waits-for-others.js";

/** Options of {@link createInterceptedTransport}. */
export interface InterceptedTransportOptions {
  /** The user's transport: where every call goes. */
  transport: Transport;
  /** Interceptors, outermost first; they run once per call, above the user's transport. */
  interceptors: Interceptor[];
  /** Deadline for unary calls that give none, in ms. Streams never get one. */
  requestTimeoutMs: number | undefined;
  /** Send `hasleader: true` unless the call's `requireLeaderKey` says otherwise. */
  requireLeader: boolean;
  /**
   * Aborted (with a {@link ClientClosedError}) when the client closes: calls in flight end, and
   * later ones fail, with reason `closed`, as over the built-in transport. The user's transport
   * itself stays open.
   */
  closed: AbortSignal;
}

/**
 * The client's interceptors (user, retry, auth) over a Connect `Transport` the user brings, with
 * the deadline in `contextValues` (`deadlineKey`) as the retry interceptor expects it. Attempts
 * stay `sent` as `beginAttempt` starts them: only the built-in transport can prove a request
 * never left, so a write is never retried blindly over another transport.
 */
export function createInterceptedTransport(options: InterceptedTransportOptions): Transport {
  const inner = options.transport;
  const { closed } = options;

  // What every attempt does last, just above the user's transport.
  function beforeSend(req: { header: Headers; contextValues: ContextValues }): void {
    if (closed.aborted) throw new ClientClosedError();
    if (req.contextValues.get(requireLeaderKey) ?? options.requireLeader) req.header.set("hasleader", "true");
  }

  return {
    unary(method, signal, timeoutMs, header, input, contextValues) {
      const values = contextValues ?? createContextValues();
      const timeout = positive(clampTimeoutMs(unaryTimeoutMs(method, timeoutMs, options.requestTimeoutMs)));
      // A clock read only for a call with a deadline.
      const deadline = timeout === undefined ? undefined : Date.now() + timeout;
      if (deadline !== undefined) values.set(deadlineKey, deadline);
      const call = callSignal(signal, closed);
      return runUnaryCall({
        interceptors: options.interceptors,
        signal: call.signal,
        ...(timeout === undefined ? {} : { timeoutMs: timeout }),
        req: {
          stream: false,
          service: method.parent,
          method,
          requestMethod: "POST",
          url: "",
          header: new Headers(header),
          contextValues: values,
          message: input,
        },
        next: (req) => {
          beforeSend(req);
          // Each attempt carries what is left of the call's deadline, so the server stops in time.
          const left = deadline === undefined ? undefined : Math.max(1, deadline - Date.now());
          return inner.unary(req.method, req.signal, left, req.header, req.message, req.contextValues);
        },
      }).finally(call.done);
    },
    stream(method, signal, timeoutMs, header, input, contextValues) {
      const values = contextValues ?? createContextValues();
      const timeout = positive(clampTimeoutMs(timeoutMs));
      const deadline = timeout === undefined ? undefined : Date.now() + timeout;
      if (deadline !== undefined) values.set(deadlineKey, deadline);
      const call = callSignal(signal, closed);
      return runStreamingCall({
        interceptors: options.interceptors,
        signal: call.signal,
        ...(timeout === undefined ? {} : { timeoutMs: timeout }),
        req: {
          stream: true,
          service: method.parent,
          method,
          requestMethod: "POST",
          url: "",
          header: new Headers(header),
          contextValues: values,
          message: input,
        },
        next: (req) => {
          beforeSend(req);
          // What is left of the call's deadline, as for unary calls.
          const left = deadline === undefined ? undefined : Math.max(1, deadline - Date.now());
          return inner.stream(req.method, req.signal, left, req.header, req.message, req.contextValues);
        },
      }).then(
        (response) => ({ ...response, message: releasing(response.message, call.done) }),
        (error: unknown) => {
          call.done();
          throw error;
        },
      );
    },
  };
}

// A deadline in ms, or undefined for none (zero and negative mean none, as in the transport).
function positive(timeoutMs: number | undefined): number | undefined {
  return timeoutMs !== undefined && timeoutMs > 0 ? timeoutMs : undefined;
}

// One signal per call that follows the caller's and the client's close. The long-lived signals
// (the client's, an application's shutdown signal) hold one listener however many calls share
// them (onAbort), and none once the call ends: AbortSignal.any would keep every call's signal
// on the client's for the client's lifetime, and passing the client's own to each call would
// add a listener per call in flight.
function callSignal(
  signal: AbortSignal | undefined,
  closed: AbortSignal,
): { signal: AbortSignal; done: () => void } {
  const controller = new AbortController();
  if (closed.aborted || signal?.aborted) {
    controller.abort(closed.aborted ? closed.reason : signal?.reason);
    return { signal: controller.signal, done: () => {} };
  }
  const stopClosed = onAbort(closed, () => controller.abort(closed.reason));
  const stopCaller =
    signal === undefined ? undefined : onAbort(signal, () => controller.abort(signal.reason));
  return {
    signal: controller.signal,
    done: () => {
      stopClosed();
      stopCaller?.();
    },
  };
}

// A stream's messages, and the call's listeners let go once they end (or the reader stops).
async function* releasing<T>(messages: AsyncIterable<T>, done: () => void): AsyncIterable<T> {
  try {
    yield* messages;
  } finally {
    done();
  }
}
