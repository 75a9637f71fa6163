import { type ContextValues, createContextKey } from "@connectrpc/connect";

/**
 * How far an attempt got, in the spirit of grpc-js's `RpcProgress`: `not_sent` while nothing can
 * have reached a server, `refused` when a server provably did not process it (REFUSED_STREAM,
 * above a GOAWAY's last stream id), `sent` when it may have been processed.
 */
export type AttemptProgress = "not_sent" | "refused" | "sent";

/** What one attempt of a unary call did: written by the balanced transport, read by the retry interceptor. */
export interface Attempt {
  /** The endpoint the attempt was sent to, once chosen. */
  endpoint: string | undefined;
  /**
   * Starts `sent`: only a transport that can prove a request stayed home (the balanced one) says
   * otherwise, so a call on any other transport never gets a blind retry of a write.
   */
  progress: AttemptProgress;
  /** True when trying again cannot help (oversize request, TLS or protocol failure, closed client). */
  permanent: boolean;
  /**
   * Set by the retry interceptor for calls it would send again after a lost connection
   * (reads): the transport may then end the attempt early on a member that stopped answering.
   */
  retrySafe: boolean;
  /**
   * A member to pass over when another can take the attempt: set by a stream that moves away
   * from a member that stopped answering it, which is no reason to eject that member.
   */
  avoid?: string | undefined;
}

// Travels in the call's contextValues, which Connect hands from the interceptors to the transport.
const attemptKey = createContextKey<Attempt | undefined>(undefined, { description: "etcd-connect attempt" });

/** Starts a fresh attempt record in a call's context values; see {@link Attempt}. */
export function beginAttempt(values: ContextValues, retrySafe = false): Attempt {
  const attempt: Attempt = { endpoint: undefined, progress: "sent", permanent: false, retrySafe };
  values.set(attemptKey, attempt);
  return attempt;
}

/** The current attempt's record, when a retry interceptor started one. */
export function currentAttempt(values: ContextValues): Attempt | undefined {
  return values.get(attemptKey);
}
