import {
  type ContextValues,
  createContextValues,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import { runStreamingCall, runUnaryCall } from "@connectrpc/connect/protocol";
import { clampTimeoutMs, deadlineKey } from "@etcd-connect/transport";
import { requireLeaderKey } from "../call-options.js";
import { ClientClosedError } from "../errors.js";

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
      const timeout = positive(clampTimeoutMs(timeoutMs ?? options.requestTimeoutMs));
      // A clock read only for a call with a deadline.
      const deadline = timeout === undefined ? undefined : Date.now() + timeout;
      if (deadline !== undefined) values.set(deadlineKey, deadline);
      return runUnaryCall({
        interceptors: options.interceptors,
        signal: withClose(signal, closed),
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
      });
    },
    stream(method, signal, timeoutMs, header, input, contextValues) {
      const values = contextValues ?? createContextValues();
      const timeout = positive(clampTimeoutMs(timeoutMs));
      if (timeout !== undefined) values.set(deadlineKey, Date.now() + timeout);
      return runStreamingCall({
        interceptors: options.interceptors,
        signal: withClose(signal, closed),
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
          return inner.stream(req.method, req.signal, timeout, req.header, req.message, req.contextValues);
        },
      });
    },
  };
}

// A deadline in ms, or undefined for none (zero and negative mean none, as in the transport).
function positive(timeoutMs: number | undefined): number | undefined {
  return timeoutMs !== undefined && timeoutMs > 0 ? timeoutMs : undefined;
}

// The call's signal joined with the client's close: a new signal only for a call that has its own.
function withClose(signal: AbortSignal | undefined, closed: AbortSignal): AbortSignal {
  return signal === undefined ? closed : AbortSignal.any([signal, closed]);
}
