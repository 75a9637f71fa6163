/** Per-call options that every method takes. */
export interface CallOptions {
  /** Cancels the call. */
  signal?: AbortSignal;
  /** Deadline of this call in ms; overrides `requestTimeoutMs`. Clamped to what gRPC can carry. */
  timeoutMs?: number;
}
