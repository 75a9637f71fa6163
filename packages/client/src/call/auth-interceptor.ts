import { ConnectError, type Interceptor } from "@connectrpc/connect";
import { raceSignal } from "@etcd-connect/transport";
import { toEtcdError } from "../errors.js";

/** Options of {@link createAuthInterceptor}. */
export interface AuthInterceptorOptions {
  /** Fetches a fresh token, e.g. with etcd's Authenticate call. */
  authenticate?: (signal: AbortSignal | undefined) => Promise<string>;
  /** A fixed token to send when there is no `authenticate`. */
  token?: string;
  /** Told when a refused token is replaced (not for the first authentication). */
  onReauthenticate?: (() => void) | undefined;
}

/**
 * Sends etcd's `token` header. With `authenticate`, fetches the token lazily, and when etcd
 * answers invalid_auth_token or auth_old_revision fetches a new one (one authentication in
 * flight however many calls wait) and retries each unary call once.
 */
/** The auth interceptor, plus a way for streams to drop a token the server refused. */
export type AuthInterceptor = Interceptor & {
  /** Forgets the cached token: the next call or stream authenticates afresh. */
  invalidate(): void;
};

export function createAuthInterceptor(options: AuthInterceptorOptions): AuthInterceptor {
  let token: string | undefined = options.token;
  let pending: Promise<string> | undefined;

  // One authentication for every waiting call. It runs without any caller's signal, so one
  // caller giving up does not fail the others; each caller races it against its own signal.
  function refresh(stale: string | undefined, signal: AbortSignal): Promise<string> {
    const authenticate = options.authenticate;
    if (authenticate === undefined) return Promise.resolve(token ?? "");
    // Another call already replaced the stale token: use that one.
    if (token !== undefined && token !== stale) return Promise.resolve(token);
    if (pending === undefined && stale !== undefined) options.onReauthenticate?.();
    pending ??= authenticate(undefined).then(
      (fresh) => {
        token = fresh;
        pending = undefined;
        return fresh;
      },
      (error: unknown) => {
        pending = undefined;
        throw error;
      },
    );
    return raceSignal(pending, signal);
  }

  const interceptor: Interceptor = (next) => async (req) => {
    if (req.service.typeName === "etcdserverpb.Auth" && req.method.name === "Authenticate") return next(req);
    const used = token ?? (await refresh(undefined, req.signal));
    req.header.set("token", used);
    if (req.stream || options.authenticate === undefined) return next(req);
    try {
      return await next(req);
    } catch (error) {
      const reason = toEtcdError(error).reason;
      if (reason !== "invalid_auth_token" && reason !== "auth_old_revision") throw ConnectError.from(error);
      req.header.set("token", await refresh(used, req.signal));
      return next(req);
    }
  };
  return Object.assign(interceptor, {
    invalidate() {
      if (options.authenticate !== undefined) token = undefined;
    },
  });
}
