import type { Interceptor, Transport } from "@connectrpc/connect";
import type { Endpoint, ResolvedClientOptions } from "../client-options.js";
import { ClientClosedError, invalidArgument } from "../errors.js";
import { type BalancedTransportOptions, createBalancedTransport } from "./balanced-transport.js";
import { EndpointPool, type MemberHealth } from "./endpoint-pool.js";
import { createInterceptedTransport } from "./intercepted-transport.js";
import { rejectOldMember } from "./member-version.js";

/**
 * Where a client's calls go: its own connections to the members (the endpoint pool and the
 * balanced transport over it), or the Connect `Transport` the user gave. The client builds its
 * generated clients on {@link CallRouting.transport} and never needs to know which.
 */
export interface CallRouting {
  /** A transport over the members (or the user's), running these interceptors once per call. */
  transport(interceptors: Interceptor[]): Transport;
  /**
   * A transport that sends every call to one member.
   * @throws EtcdError `invalid_argument` with a user transport, which decides where calls go.
   */
  pinned(url: string, interceptors: Interceptor[]): Transport;
  /** What watch and lease streams may ask about a member; undefined with a user transport. */
  readonly members: MemberHealth | undefined;
  /** The endpoint URLs in use; empty with a user transport. */
  urls(): string[];
  /** Replaces the endpoints. @throws EtcdError `invalid_argument` with a user transport. */
  setEndpoints(endpoints: Endpoint[]): void;
  /** Closes the connections; with a user transport, ends the calls in flight (it stays open). */
  close(): void;
}

/** The routing that `options` ask for: a user transport when given, else an endpoint pool. */
export function createCallRouting(options: ResolvedClientOptions): CallRouting {
  const custom = options.transport;
  if (custom !== undefined) return userTransportRouting(custom, options);
  const pool = new EndpointPool({
    ...options,
    verify: options.rejectOldCluster ? rejectOldMember : undefined,
  });
  const base: Omit<BalancedTransportOptions, "interceptors"> = {
    pool,
    writeMaxBytes: options.maxCallSendMsgSize,
    readMaxBytes: options.maxCallRecvMsgSize,
    requestTimeoutMs: options.requestTimeoutMs,
    requireLeader: options.requireLeader,
    waitForEndpointMs: options.dialTimeoutMs,
  };
  return {
    transport: (interceptors) => createBalancedTransport({ ...base, interceptors }),
    pinned: (url, interceptors) => createBalancedTransport({ ...base, interceptors, pin: url }),
    members: pool,
    urls: () => pool.urls,
    setEndpoints: (endpoints) => pool.setEndpoints(endpoints),
    close: () => pool.close(),
  };
}

function userTransportRouting(transport: Transport, options: ResolvedClientOptions): CallRouting {
  const closing = new AbortController();
  const noMembers = (what: string) =>
    invalidArgument(`${what} needs endpoints; with a custom transport, the transport decides where calls go`);
  return {
    transport: (interceptors) =>
      createInterceptedTransport({
        transport,
        interceptors,
        requestTimeoutMs: options.requestTimeoutMs,
        requireLeader: options.requireLeader,
        closed: closing.signal,
      }),
    pinned: () => {
      throw noMembers("a call to one member (rpcAt, maintenance.status and the like)");
    },
    members: undefined,
    urls: () => [],
    setEndpoints: () => {
      throw noMembers("setEndpoints");
    },
    // Ends the calls in flight; the transport is the user's, and stays open.
    close: () => closing.abort(new ClientClosedError()),
  };
}
