import { compare, type EtcdApi, opDelete, opPut } from "@etcd-connect/client";
import { ConcurrencyError, createSession, type Session, type SessionEnd } from "@etcd-connect/concurrency";
import type { Endpoint } from "./endpoint.js";
import { invalidArgument } from "./errors.js";

/** Options of {@link EndpointManager.register}. */
export interface RegisterOptions {
  /**
   * TTL in seconds of the lease the registration grants (an integer of at least 1): how long
   * the endpoint stays listed after its process died. Default: 10. Not with `session`.
   */
  ttl?: number;
  /**
   * Register under this session of `@etcd-connect/concurrency` instead of granting a lease: many
   * endpoints on one lease, or an endpoint that lives exactly as long as a lock or leadership.
   * Its owner closes it; closing the registration deletes only the endpoint's key.
   */
  session?: Session;
  /**
   * Before the registration is in place, aborting cancels it (nothing stays behind). After, it
   * closes the registration, as `close()` does: pass the signal that stops the service.
   */
  signal?: AbortSignal;
}

/**
 * An endpoint kept listed by a lease: the key is attached to the lease of a session
 * (`@etcd-connect/concurrency`), which the client keeps alive. When the process dies, the
 * keepalives stop and etcd deletes the key once the TTL runs out.
 *
 * @example
 * await using registration = await manager.register("my-service/node-1", { addr: "10.0.0.7:8080" });
 * void registration.done.then((why) => console.log("no longer listed:", why.reason));
 */
export interface Registration extends AsyncDisposable {
  /** The endpoint's key. */
  readonly key: string;
  /** The endpoint as registered. */
  readonly endpoint: Endpoint;
  /** The session whose lease carries the key. */
  readonly session: Session;
  /** The lease id the key is attached to. */
  readonly lease: bigint;
  /**
   * Settles (never rejects) when the registration is over, with why: the session's end
   * (`lease_expired`, `lease_not_found`: the key may be gone, register again to be listed), or
   * `ConcurrencyError` `session_closed` after `close()`. It settles before etcd can expire the
   * lease (see `Session.done`).
   */
  readonly done: Promise<SessionEnd>;
  /** Aborted, with the `done` reason, when the registration is over. */
  readonly signal: AbortSignal;
  /**
   * Removes the endpoint: revokes the lease the registration granted (the key goes at once), or,
   * under a session given in the options, deletes the key while it still carries that session's
   * lease. Idempotent.
   */
  close(): Promise<void>;
}

/** Default TTL of a registration's lease: a dead process stays listed at most this long. */
export const defaultRegistrationTtl = 10;

/** Validates the register options before anything is sent. */
export function checkRegisterOptions(options: RegisterOptions): void {
  if (options.session !== undefined && options.ttl !== undefined) {
    throw invalidArgument("register takes a ttl or a session, not both: a session has its own TTL");
  }
  const ttl = options.ttl ?? defaultRegistrationTtl;
  if (!Number.isSafeInteger(ttl) || ttl < 1) {
    throw invalidArgument(`register ttl must be an integer >= 1 second, got ${String(ttl)}`);
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw invalidArgument("register signal must be an AbortSignal");
  }
}

/** The reason a session given to register is unusable, or undefined while it is live. */
function sessionOver(session: Session): ConcurrencyError | undefined {
  if (!session.isDone) return undefined;
  const reason: unknown = session.signal.reason;
  const closed = ConcurrencyError.is(reason, "session_closed");
  return new ConcurrencyError(
    closed ? "session_closed" : "session_expired",
    `session ${session.lease.toString(16)} is over: nothing can be registered under it`,
    { cause: reason },
  );
}

/**
 * Puts the endpoint's key (its Go JSON `value`) under a session: granted here unless the
 * options give one. Inputs are checked by the caller.
 */
export async function register(
  client: EtcdApi,
  key: string,
  endpoint: Endpoint,
  value: string,
  options: RegisterOptions,
): Promise<Registration> {
  const { signal } = options;
  const given = options.session;
  if (given !== undefined) {
    const over = sessionOver(given);
    if (over !== undefined) throw over;
  }
  const call = signal === undefined ? {} : { signal };
  const session =
    given ?? (await createSession(client, { ttl: options.ttl ?? defaultRegistrationTtl, ...call }));
  try {
    await client
      .txn()
      .then(opPut(key, value, { lease: session.lease }))
      .commit(call);
  } catch (error) {
    // The lease granted here carries nothing else: revoking it leaves nothing behind.
    if (given === undefined) await session.close().catch(() => {});
    throw error;
  }
  return new RegistrationImpl(client, key, endpoint, session, given === undefined, signal);
}

class RegistrationImpl implements Registration {
  readonly key: string;
  readonly endpoint: Endpoint;
  readonly session: Session;
  readonly done: Promise<SessionEnd>;
  private readonly client: EtcdApi;
  private readonly ownsSession: boolean;
  private readonly abort = new AbortController();
  private settle: (end: SessionEnd) => void = () => {};
  private closing: Promise<void> | undefined;
  private detach: () => void = () => {};

  constructor(
    client: EtcdApi,
    key: string,
    endpoint: Endpoint,
    session: Session,
    ownsSession: boolean,
    signal: AbortSignal | undefined,
  ) {
    this.client = client;
    this.key = key;
    this.endpoint = endpoint;
    this.session = session;
    this.ownsSession = ownsSession;
    this.done = new Promise<SessionEnd>((resolve) => {
      this.settle = resolve;
    });
    // The session's signal, not its `done` promise: a listener can be removed when this
    // registration ends, while a callback on a long-lived session's promise would keep every
    // closed registration in memory until the session ends.
    const onSessionEnd = () => this.end(session.signal.reason as SessionEnd);
    session.signal.addEventListener("abort", onSessionEnd, { once: true });
    const detachSession = () => session.signal.removeEventListener("abort", onSessionEnd);
    this.detach = detachSession;
    if (signal !== undefined) {
      // The caller's signal stops the service: the endpoint leaves the list with it.
      const onAbort = () => void this.close().catch(() => {});
      signal.addEventListener("abort", onAbort, { once: true });
      this.detach = () => {
        detachSession();
        signal.removeEventListener("abort", onAbort);
      };
      if (signal.aborted) onAbort();
    }
    if (session.signal.aborted) onSessionEnd();
  }

  get lease(): bigint {
    return this.session.lease;
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  private end(why: SessionEnd): void {
    if (this.abort.signal.aborted) return;
    this.detach();
    this.settle(why);
    this.abort.abort(why);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      // Whoever acts on the registration stops before the key disappears.
      this.end(new ConcurrencyError("session_closed", `the registration of ${this.key} was closed`));
      if (this.ownsSession) {
        await this.session.close();
        return;
      }
      // The key may since carry another lease (registered again elsewhere): leave that one be.
      try {
        await this.client
          .txn()
          .if(compare.lease(this.key, "=", this.session.lease))
          .then(opDelete(this.key))
          .commit();
      } catch (error) {
        // A session that is over takes the key with its lease anyway.
        if (!this.session.isDone) throw error;
      }
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
