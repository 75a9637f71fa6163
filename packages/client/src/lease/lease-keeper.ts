import {
  Code,
  type Client as ConnectClient,
  type ContextValues,
  createContextValues,
} from "@connectrpc/connect";
import type {
  LeaseKeepAliveRequest,
  LeaseKeepAliveResponse,
  Lease as LeaseService,
} from "@etcd-connect/api/etcdserverpb";
import { onAbort as onAbortOf, poll, RttEstimator } from "@etcd-connect/transport";
import { AsyncQueue } from "../async-queue.js";
import { type Attempt, beginAttempt } from "../call/attempt.js";
import { exponentialBackoff } from "../call/backoff.js";
import type { MemberHealth } from "../call/endpoint-pool.js";
import type { ClientLogger, ClientObserver } from "../client-options.js";
import { EtcdError, toEtcdError } from "../errors.js";
import { keepAliveRequest } from "./keep-alive-request.js";

/**
 * A lease kept alive by the client: an AsyncIterable of keepalive answers (a reader that
 * falls behind gets the latest answer; older unread ones are dropped), a `lost` promise, and `close()`.
 */
export interface LeaseKeeper extends AsyncIterable<LeaseKeepAliveResponse>, AsyncDisposable {
  /** The lease id. */
  readonly id: bigint;
  /**
   * Settles, with the reason, once the lease may be gone: no later than the send time of the
   * last acknowledged keepalive plus the TTL it was granted, so a lock or leadership held
   * under the lease can be given up before the server could hand it to someone else. Reasons:
   * `lease_expired` (no acknowledgement in time), `lease_not_found` (etcd answered TTL 0: revoked
   * or expired). Stays pending after `close()`.
   */
  readonly lost: Promise<EtcdError>;
  /** Stops keeping the lease alive (it then expires after its TTL unless revoked). */
  close(): Promise<void>;
}

/** Options of the {@link LeaseKeepAliveEngine}. */
export interface LeaseKeepAliveEngineOptions {
  /**
   * The shortest wait for a keepalive's answer, in ms. The wait follows the round trips the
   * stream has shown (see `RttEstimator`), up to a third of the shortest kept TTL.
   */
  responseTimeoutMs: number;
  /** The members behind the stream: asked for evidence, and whether the stream could move. */
  members?: MemberHealth | undefined;
  /** Drops the cached auth token, so the next stream authenticates afresh. */
  reauthenticate?: (() => void) | undefined;
  logger?: ClientLogger | undefined;
  observer?: ClientObserver | undefined;
}

interface KeptLease {
  readonly id: bigint;
  /** Its keepalive request, the same every time: built once, not per renewal. */
  readonly request: LeaseKeepAliveRequest;
  /** TTL granted by the last answer (or the grant), in ms. */
  ttlMs: number;
  /** Send time of the keepalive not yet answered, 0 when none (one at a time per lease). */
  sentAt: number;
  nextSendAt: number;
  /** When the lease may be gone, as far as the client can prove; Infinity until known. */
  deadline: number;
  /**
   * Everyone keeping this lease: one renewal for all, each with its own answers and `lost`. An
   * array, not a Set: nearly always one, and every answer walks it (see `KeeperState.slot`).
   */
  readonly keepers: KeeperState[];
}

// One caller's keepAlive of a lease, as in Go's lease.go, which keeps a channel per caller:
// closing it leaves the others keeping the lease.
interface KeeperState {
  readonly queue: AsyncQueue<LeaseKeepAliveResponse>;
  settleLost: (error: EtcdError) => void;
  /** Removes the listener on the caller's signal once the keeper stops. */
  detach: (() => void) | undefined;
  /** Its index in the lease's `keepers`, -1 once dropped: a keeper leaves in O(1). */
  slot: number;
}

interface Stream {
  readonly abort: AbortController;
  readonly requests: AsyncQueue<LeaseKeepAliveRequest>;
  /** Where the balanced transport opened it. */
  readonly attempt: Attempt;
  /** An overdue answer is being checked (after the reads a busy event loop left waiting). */
  checking: boolean;
  /** No lateness check before this (one per timeout while waiting for the only member). */
  nextCheckAt: number;
}

// Go's clientv3 sends the keepalives due from a loop every 500 ms. Here one timer wakes for the
// earliest renewal and sends every renewal due within this much after it, early: renewals due
// close together go out in one batch, and their answers come back in one read. On a virtual
// machine each wakeup of the process costs more CPU than the renewals it sends (a 100 ms
// interval alone costs ~2.7 ms of CPU a second here), so fewer wakeups is what keeps 1,000
// leases cheap. A tenth of the TTL at most, so a short lease is not renewed much early.
const maxRenewSlackMs = 500;
// The longest wait for an answer however slow the stream has been, before a third of the TTL.
const maxResponseTimeoutMs = 10_000;
// How early `lost` may settle: room for a timer that runs late.
const lostMarginMs = 250;
// An answer supersedes the one before (same lease, a newer TTL): an unread keeper holds one,
// not a backlog. Go's clientv3 buffers 16 and then drops the newest; 1,000 kept leases would
// hold 16,000 stale answers here (about 4 KB each lease).
const keptAnswers = 1;

/**
 * Every kept lease of a client on one LeaseKeepAlive stream. Each lease is renewed at a third
 * of its TTL; a stream that fails or stops answering is re-created at once (on another member
 * through the balancer) and every lease renewed on it. One timer serves all leases, set for the
 * next renewal, deadline or check due.
 */
export class LeaseKeepAliveEngine {
  private readonly rpc: ConnectClient<typeof LeaseService>;
  private readonly options: LeaseKeepAliveEngineOptions;
  private readonly leases = new Map<bigint, KeptLease>();
  private stream: Stream | undefined;
  // The one timer, and when it fires (Infinity when none).
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  // The shortest TTL among the kept leases, as of the last wake.
  private shortestTtlMs = Number.POSITIVE_INFINITY;
  private failures = 0;
  private restartAt = 0;
  private closed = false;
  // Round trips of keepalives on the streams: how long an answer may take before it is late.
  private readonly rtt: RttEstimator;
  // The member the last stream left for not answering: the next one goes elsewhere if it can.
  private avoid: string | undefined;

  constructor(rpc: ConnectClient<typeof LeaseService>, options: LeaseKeepAliveEngineOptions) {
    this.rpc = rpc;
    this.options = options;
    this.rtt = new RttEstimator({ floorMs: options.responseTimeoutMs, ceilingMs: maxResponseTimeoutMs });
  }

  /**
   * Keeps a lease alive. `granted`, when this client granted the lease, makes `lost` safe from
   * the start: its deadline is the grant's send time plus the granted TTL.
   */
  keep(
    id: bigint,
    granted: { sentAt: number; ttlMs: number } | undefined,
    signal?: AbortSignal,
  ): LeaseKeeper {
    let settleLost: (error: EtcdError) => void = () => {};
    const lost = new Promise<EtcdError>((resolve) => {
      settleLost = resolve;
    });
    const state: KeeperState = {
      queue: new AsyncQueue<LeaseKeepAliveResponse>(),
      settleLost,
      detach: undefined,
      slot: -1,
    };
    if (this.closed) {
      const keeper = new Keeper(id, state.queue, lost, () => {});
      state.queue.end(new EtcdError("etcd-connect: client is closed", Code.Canceled, "closed"));
      settleLost(new EtcdError("etcd-connect: client is closed", Code.Canceled, "closed"));
      return keeper;
    }
    let lease = this.leases.get(id);
    if (lease === undefined) {
      lease = {
        id,
        request: keepAliveRequest(id),
        ttlMs: granted?.ttlMs ?? 0,
        sentAt: 0,
        // A lease this client granted has time left: its first renewal falls at a random point of
        // the first third of what is left, so a burst of grants is not renewed in one burst.
        nextSendAt:
          granted === undefined
            ? 0
            : Date.now() + (Math.random() * Math.max(0, granted.sentAt + granted.ttlMs - Date.now())) / 3,
        deadline: granted === undefined ? Number.POSITIVE_INFINITY : granted.sentAt + granted.ttlMs,
        keepers: [],
      };
      this.leases.set(id, lease);
      this.options.observer?.onKeptLeases?.(this.leases.size);
    }
    const kept = lease;
    state.slot = kept.keepers.length;
    kept.keepers.push(state);
    const keeper = new Keeper(id, state.queue, lost, () => this.drop(kept, state));
    if (signal !== undefined) {
      if (signal.aborted) {
        this.drop(kept, state);
        return keeper;
      }
      // One listener on the signal however many keepers share it (an app's shutdown signal).
      state.detach = onAbortOf(signal, () => this.drop(kept, state));
    }
    // The stream opens now even when the first renewal is later: its connection is what keeps
    // the process alive while leases are kept.
    const now = Date.now();
    if (this.stream === undefined && now >= this.restartAt) this.start();
    // Only this lease: a wake over every lease per keepAlive would make a burst of n keepAlives cost n².
    if (kept.sentAt === 0 && now >= kept.nextSendAt) this.send(kept, now);
    this.schedule(kept.sentAt === 0 ? kept.nextSendAt : kept.deadline - lostMarginMs);
    return keeper;
  }

  /** The lease was revoked by this client: its keeper reports it lost (its keys are gone). */
  revoked(id: bigint): void {
    const lease = this.leases.get(id);
    if (lease === undefined) return;
    this.lose(lease, new EtcdError(`lease ${id.toString(16)} was revoked`, Code.NotFound, "lease_not_found"));
  }

  /** Stops every keeper; their `lost` promises stay pending. */
  close(): void {
    this.closed = true;
    for (const lease of [...this.leases.values()]) {
      for (const state of lease.keepers.slice()) this.drop(lease, state);
    }
  }

  // Fires the timer at `at` (ms since the epoch) unless it fires sooner already.
  private schedule(at: number): void {
    if (at >= this.timerAt || this.leases.size === 0) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.wake, Math.max(0, at - Date.now())).unref();
  }

  // One pass over the leases: settles the ones that may be gone, sends the renewals due (and
  // those due soon, in the same batch), checks for a late answer, and sets the timer for the
  // next of these moments.
  private readonly wake = (): void => {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    if (this.stream === undefined && now >= this.restartAt && this.leases.size > 0) this.start();
    const canSend = this.stream !== undefined;
    let next = canSend ? Number.POSITIVE_INFINITY : this.restartAt;
    let oldestSent = Number.POSITIVE_INFINITY;
    let shortestTtl = Number.POSITIVE_INFINITY;
    for (const lease of this.leases.values()) {
      // Settle early rather than late: `lost` must not come after the deadline, even when this
      // timer runs late behind a busy event loop.
      if (lease.deadline - now <= lostMarginMs) {
        this.lose(
          lease,
          new EtcdError(
            `lease ${lease.id.toString(16)} may have expired: no keepalive was acknowledged within its TTL`,
            Code.DeadlineExceeded,
            "lease_expired",
          ),
        );
        continue;
      }
      if (lease.ttlMs > 0 && lease.ttlMs < shortestTtl) shortestTtl = lease.ttlMs;
      if (
        canSend &&
        lease.sentAt === 0 &&
        lease.nextSendAt - now <= Math.min(maxRenewSlackMs, lease.ttlMs / 10)
      ) {
        this.send(lease, now);
      }
      if (lease.sentAt !== 0) {
        if (lease.sentAt < oldestSent) oldestSent = lease.sentAt;
      } else if (canSend && lease.nextSendAt < next) {
        next = lease.nextSendAt;
      }
      if (lease.deadline - lostMarginMs < next) next = lease.deadline - lostMarginMs;
    }
    this.shortestTtlMs = shortestTtl;
    const stream = this.stream;
    if (stream !== undefined && oldestSent !== Number.POSITIVE_INFINITY) {
      const checkAt = Math.max(oldestSent + this.responseTimeoutMs(), stream.nextCheckAt);
      if (now < checkAt) next = Math.min(next, checkAt);
      else if (!stream.checking) {
        stream.checking = true;
        // Checked from setImmediate: answers that arrived while the event loop was busy are read first.
        setImmediate(() => this.checkOverdue(stream));
      }
    }
    if (next !== Number.POSITIVE_INFINITY) this.schedule(next);
  };

  // How long an answer may take: the stream's round trips, within the floor and a third of the
  // shortest TTL (a lease must be renewable somewhere else before it expires).
  private responseTimeoutMs(): number {
    return Math.min(this.rtt.timeoutMs(), Math.max(this.options.responseTimeoutMs, this.shortestTtlMs / 3));
  }

  // An answer is late: a busy member or a dead one, and lateness alone cannot tell. The member's
  // connection is asked for evidence (a PING: a dead connection fails the stream and is ejected),
  // and the stream moves where another member can take it; with none, the client waits longer
  // for the same one. A late answer never ejects a member by itself.
  private checkOverdue(stream: Stream): void {
    stream.checking = false;
    if (this.stream !== stream) return;
    let oldestPending = Number.POSITIVE_INFINITY;
    for (const lease of this.leases.values()) {
      if (lease.sentAt !== 0 && lease.sentAt < oldestPending) oldestPending = lease.sentAt;
    }
    const timeoutMs = this.responseTimeoutMs();
    if (Date.now() - oldestPending <= timeoutMs) {
      this.schedule(oldestPending + timeoutMs);
      return;
    }
    const endpoint = stream.attempt.endpoint;
    const members = this.options.members;
    if (endpoint !== undefined && members !== undefined) {
      members.probe(endpoint);
      if (!members.hasAlternative(endpoint)) {
        // Waiting on the same member: the next wait is longer (a stream that moves keeps its
        // timeout, since another member is another path).
        this.rtt.backoff();
        stream.nextCheckAt = Date.now() + this.responseTimeoutMs();
        this.schedule(stream.nextCheckAt);
        this.options.logger?.warn?.("etcd lease keepalive answers are late; waiting for the only member", {
          endpoint,
          waitedMs: Math.round(Date.now() - oldestPending),
        });
        return;
      }
    }
    // Canceled, not Unavailable: the member is not reported failed for being slow; the next
    // stream only passes it over.
    this.avoid = endpoint;
    const reason = `no keepalive answer within ${Math.round(timeoutMs)} ms from ${endpoint}`;
    this.options.logger?.warn?.("etcd lease keepalive stream moves to another member", { error: reason });
    // Let go of the stream now rather than when its call has wound down (a call stuck on its
    // member can take seconds to end): the next wake renews every lease on a new one.
    this.stream = undefined;
    stream.requests.end();
    stream.abort.abort(new Error(reason));
    for (const lease of this.leases.values()) {
      lease.sentAt = 0;
      lease.nextSendAt = 0;
    }
    this.restartAt = 0;
    this.schedule(0);
  }

  private send(lease: KeptLease, now: number): void {
    if (this.stream === undefined) {
      if (now >= this.restartAt) this.start();
      if (this.stream === undefined) return;
    }
    lease.sentAt = now;
    // A wake to check for the answer: whatever sent this (a keepAlive, a wake, a new stream),
    // a member that stops answering is found within the response timeout.
    this.schedule(now + this.responseTimeoutMs());
    // Until an answer says otherwise, renew a third of the TTL later (1 s when unknown).
    lease.nextSendAt = now + (lease.ttlMs > 0 ? lease.ttlMs / 3 : 1_000);
    this.stream.requests.push(lease.request);
  }

  private start(): void {
    const contextValues = createContextValues();
    const attempt = beginAttempt(contextValues);
    attempt.avoid = this.avoid;
    this.avoid = undefined;
    const stream: Stream = {
      abort: new AbortController(),
      requests: new AsyncQueue<LeaseKeepAliveRequest>(),
      attempt,
      checking: false,
      nextCheckAt: 0,
    };
    this.stream = stream;
    void this.run(stream, contextValues);
  }

  private async run(stream: Stream, contextValues: ContextValues): Promise<void> {
    let failure: unknown;
    try {
      const responses = this.rpc
        .leaseKeepAlive(stream.requests, { signal: stream.abort.signal, contextValues })
        [Symbol.asyncIterator]();
      for (;;) {
        // Answers already read (one socket read may hold several) are taken without a promise each.
        const result = poll(responses) ?? (await responses.next());
        if (result.done === true || this.stream !== stream) break;
        this.failures = 0;
        this.answered(result.value);
      }
    } catch (error) {
      failure = error;
    }
    if (this.stream !== stream) return;
    this.stream = undefined;
    stream.requests.end();
    stream.abort.abort();
    // Keepalives sent on the dead stream will get no answer: send again on the next one.
    for (const lease of this.leases.values()) {
      lease.sentAt = 0;
      lease.nextSendAt = 0;
    }
    if (this.leases.size === 0) return;
    // A stream refused for its token (etcd 3.5+ checks auth on every renewal): the next one must
    // authenticate afresh, as the watch stream does.
    const reason = failure === undefined ? undefined : toEtcdError(failure).reason;
    if (reason === "invalid_auth_token" || reason === "auth_old_revision") this.options.reauthenticate?.();
    this.failures++;
    // Short and capped: a lease has only its TTL to be renewed somewhere.
    this.restartAt =
      Date.now() + (this.failures === 1 ? 0 : exponentialBackoff(this.failures - 2, 50, 1_000));
    this.options.logger?.warn?.("etcd lease keepalive stream failed; re-creating", {
      error: failure === undefined ? "ended" : toEtcdError(failure).message,
    });
    this.schedule(this.restartAt);
  }

  private answered(response: LeaseKeepAliveResponse): void {
    const lease = this.leases.get(response.ID);
    if (lease === undefined) return;
    const sentAt = lease.sentAt === 0 ? Date.now() : lease.sentAt;
    lease.sentAt = 0;
    if (response.TTL <= 0n) {
      this.lose(
        lease,
        new EtcdError(
          `lease ${lease.id.toString(16)} is gone (revoked or expired)`,
          Code.NotFound,
          "lease_not_found",
        ),
      );
      return;
    }
    const now = Date.now();
    this.rtt.sample(now - sentAt);
    lease.ttlMs = Number(response.TTL) * 1000;
    lease.deadline = sentAt + lease.ttlMs;
    lease.nextSendAt = sentAt + lease.ttlMs / 3;
    // The answers of one batch share a send time: the first of them sets the timer.
    if (lease.nextSendAt < this.timerAt) this.schedule(lease.nextSendAt);
    this.options.observer?.onKeepAliveRoundTrip?.((now - sentAt) / 1000);
    const keepers = lease.keepers;
    for (let i = 0; i < keepers.length; i++)
      (keepers[i] as KeeperState).queue.pushLatest(response, keptAnswers);
  }

  // The lease may be gone: every keeper hears it.
  private lose(lease: KeptLease, error: EtcdError): void {
    const keepers = lease.keepers.slice();
    this.remove(lease);
    for (const state of keepers) {
      state.detach?.();
      state.detach = undefined;
      state.settleLost(error);
      state.queue.end(error);
    }
  }

  // One keeper stops; the lease is renewed as long as another keeps it.
  private drop(lease: KeptLease, state: KeeperState): void {
    state.detach?.();
    state.detach = undefined;
    state.queue.end();
    const keepers = lease.keepers;
    if (keepers[state.slot] !== state) return;
    // The last keeper takes the leaving one's place: order does not matter, each has its own queue.
    const last = keepers.pop() as KeeperState;
    if (last !== state) {
      keepers[state.slot] = last;
      last.slot = state.slot;
    }
    state.slot = -1;
    if (keepers.length > 0) return;
    this.remove(lease);
  }

  private remove(lease: KeptLease): void {
    lease.keepers.length = 0;
    if (this.leases.get(lease.id) !== lease) return;
    this.leases.delete(lease.id);
    this.options.observer?.onKeptLeases?.(this.leases.size);
    if (this.leases.size > 0) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const stream = this.stream;
    this.stream = undefined;
    stream?.requests.end();
    stream?.abort.abort();
  }
}

class Keeper implements LeaseKeeper {
  readonly id: bigint;
  readonly lost: Promise<EtcdError>;
  private readonly queue: AsyncQueue<LeaseKeepAliveResponse>;
  private readonly stop: () => void;

  constructor(
    id: bigint,
    queue: AsyncQueue<LeaseKeepAliveResponse>,
    lost: Promise<EtcdError>,
    stop: () => void,
  ) {
    this.id = id;
    this.queue = queue;
    this.lost = lost;
    this.stop = stop;
  }

  [Symbol.asyncIterator](): AsyncIterator<LeaseKeepAliveResponse> {
    const queue = this.queue;
    return {
      next: () => queue.next(),
      return: async () => {
        this.stop();
        return { done: true, value: undefined };
      },
    };
  }

  close(): Promise<void> {
    this.stop();
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
