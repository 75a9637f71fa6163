import { ConnectError, type Interceptor, type UnaryRequest } from "@connectrpc/connect";
import { deadlineKey } from "@etcd-connect/transport";
import { type EtcdError, setCallOutcome, toEtcdError } from "../errors.js";
import { type Attempt, beginAttempt } from "./attempt.js";
import { exponentialBackoff, jittered, sleep } from "./backoff.js";
import {
  isIndeterminate,
  isOverload,
  isRepeatable,
  isRetryable,
  type RetryOptions,
  refusalOfEarlierAttempt,
} from "./retry-policy.js";

/** Options of {@link createRetryInterceptor}. */
export interface RetryInterceptorOptions extends RetryOptions {
  /** Number of endpoints in use; a quorum of them makes one round between pauses. Default: 1. */
  endpointCount?: () => number;
  /** How long a call without a deadline keeps retrying attempts that never left, in ms. Default: 5000. */
  waitForEndpointMs?: number;
  /** Told of every retry. */
  onRetry?: ((service: string, method: string, reason: string) => void) | undefined;
}

const repeatableByMethod = new WeakMap<object, boolean>();

// What an interceptor wraps, and what it answers.
type Next = Parameters<Interceptor>[0];
type Answer = Awaited<ReturnType<Next>>;

/**
 * Retries unary calls per etcd's rules (see `retry-policy.ts`): repeatable calls on
 * Unavailable, writes only when the request provably never reached a server. A write that
 * may have been applied is not retried; its error is marked indeterminate. Streams pass
 * through: the watch and lease facades resume them themselves.
 *
 * Installed by default, between user interceptors (outside) and auth (inside).
 */
export function createRetryInterceptor(options: RetryInterceptorOptions = {}): Interceptor {
  const maxRetries = options.maxRetries ?? 100;
  const backoffMs = options.backoffMs ?? 25;
  const jitter = options.backoffJitter ?? 0.1;
  const endpointCount = options.endpointCount ?? (() => 1);
  const waitForEndpointMs = options.waitForEndpointMs ?? 5_000;
  return (next) => (req) => {
    if (req.stream) return next(req);
    // By method, computed once; only a Txn depends on its ops.
    let repeatable = repeatableByMethod.get(req.method);
    if (repeatable === undefined) {
      repeatable = isRepeatable(req.service.typeName, req.method.name);
      repeatableByMethod.set(req.method, repeatable);
    }
    if (!repeatable && req.method.name === "Txn") {
      repeatable = isRepeatable(req.service.typeName, req.method.name, req.message);
    }
    const hasDeadline = req.contextValues.get(deadlineKey) !== undefined;
    const start = Date.now();
    // The first attempt takes no async frame of its own (most calls need no other); a failure
    // goes on in `retryAfter`.
    const attempt = beginAttempt(req.contextValues, repeatable && maxRetries > 0);
    let first: Promise<Answer>;
    try {
      first = next(req);
    } catch (error) {
      first = Promise.reject(error);
    }
    const isRepeatableCall = repeatable;
    return first.then(undefined, (error: unknown) =>
      retryAfter({ req, next, repeatable: isRepeatableCall, hasDeadline, start }, error, attempt),
    );
  };

  // After a failed attempt: gives up, or pauses when due and tries again, until an attempt
  // succeeds or the call gives up.
  async function retryAfter(call: RetriedCall, failure: unknown, firstAttempt: Attempt): Promise<Answer> {
    const { req, next, repeatable, hasDeadline, start } = call;
    let error = failure;
    let attempt = firstAttempt;
    // Whether an attempt before this one was sent and may have been applied, as a write's would.
    let appliedBefore = false;
    const outcome = (etcdError: EtcdError) => ({
      endpoint: attempt.endpoint,
      indeterminate:
        isIndeterminate(etcdError, repeatable, attempt.progress !== "sent") ||
        (appliedBefore && refusalOfEarlierAttempt(req.service.typeName, req.method.name, etcdError)),
    });
    for (let retries = 0; ; retries++) {
      const etcdError = toEtcdError(error);
      // A call without a deadline stops looking for a member after waitForEndpointMs; an
      // overloaded member that answered "too many requests" is there, only busy: its retries
      // are bounded by maxRetries and their growing pauses, not by how long the queue took.
      const giveUp =
        req.signal.aborted ||
        retries >= maxRetries ||
        attempt.permanent ||
        !isRetryable(etcdError, repeatable, attempt.progress !== "sent") ||
        (!hasDeadline && !isOverload(etcdError) && Date.now() - start > waitForEndpointMs);
      if (giveUp) throw setCallOutcome(ConnectError.from(error), outcome(etcdError));
      options.onRetry?.(req.service.typeName, req.method.name, etcdError.reason);
      const quorum = Math.floor(endpointCount() / 2) + 1;
      // An overloaded etcd gets room: every retry waits, longer each time (up to 1 s). Other
      // failures pause once per round of attempts over a quorum of members.
      const overload = isOverload(etcdError);
      if (overload || (retries + 1) % quorum === 0) {
        const pauseMs = overload
          ? exponentialBackoff(retries, backoffMs, 1000, jitter)
          : jittered(backoffMs, jitter);
        try {
          await sleep(pauseMs, req.signal);
        } catch {
          // Aborted while pausing: report the last attempt's failure below, send nothing more.
        }
        if (req.signal.aborted) throw setCallOutcome(ConnectError.from(error), outcome(etcdError));
      }
      appliedBefore ||= isIndeterminate(etcdError, false, attempt.progress !== "sent");
      attempt = beginAttempt(req.contextValues, repeatable && retries + 1 < maxRetries);
      try {
        return await next(req);
      } catch (nextError) {
        error = nextError;
      }
    }
  }
}

// One unary call as the retry interceptor sees it.
interface RetriedCall {
  readonly req: UnaryRequest;
  readonly next: Next;
  readonly repeatable: boolean;
  readonly hasDeadline: boolean;
  /** When the call began (ms since the epoch): a call without a deadline stops waiting for a member after waitForEndpointMs. */
  readonly start: number;
}
