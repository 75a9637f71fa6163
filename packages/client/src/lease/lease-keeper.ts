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
  ResponseHeader,
} from "@etcd-connect/api/etcdserverpb";
import { onAbort as onAbortOf, poll, RttEstimator } from "@etcd-connect/transport";
import { AsyncQueue } from "../async-queue.js";
import { type Attempt, beginAttempt } from "../call/attempt.js";
import { exponentialBackoff } from "../call/backoff.js";
import type { MemberHealth } from "../call/endpoint-pool.js";
import type { ClientLogger, ClientObserver } from "../client-options.js";
import { EtcdError, toEtcdError } from "../errors.js";
import { keepAliveAnswer, sameHeader } from "./keep-alive-answer.js";
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
   * The last answer, for a keeper that reads it after it came, kept as its parts: its header
   * (one object for every answer that carries the same, see `sameHeader`) and its TTL. A decoded
   * answer kept per lease survives V8's young-generation collections until the next renewal, and V8
   * grows its young generation with what survives: at 1,000 leases renewed every second it read
   * about 3 MB more with all of them than with half (measured after a full collection).
   */
  header: ResponseHeader | undefined;
  ttl: bigint;
  /** The last answer itself, when it has fields this client does not know (a rebuilt one would lose them). */
  unknownAnswer: LeaseKeepAliveResponse | undefined;
  /**
   * Everyone keeping this lease: one renewal for all, each with its own answers and `lost`. An
   * array, not a Set: nearly always one, and every answer walks it (see `Keeper.slot`).
   */
  keepers: Keeper[];
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
// earliest renewal (or a check, or a deadline) and sends with it every renewal due within a sixth
// of its TTL (half the time between renewals), early: renewals due close together go out in one
// batch. On a virtual machine each wake of an idle process costs more CPU than the renewals it
// sends (a no-op 100 ms interval: ~2.2 ms of CPU a second here, ~200 us a wake), and so does each
// read it wakes for, so fewer, larger batches are what keep 1,000 leases cheap. Half the time
// between renewals is also what lets batches merge: of any two batches in a renewal period, one
// falls due within half a period after the other's wake, goes with it, and from then on they are
// one. Leases of one TTL settle on one batch a period, up to the batch's room (with the early
// window capped at a second, 1,000 leases at TTL 10 s stayed in two batches a period for good).

// How many renewals a batch holds with its early ones: this many, or a twentieth of the kept
// leases if more (each wake visits every lease; smaller batches would make the visits cost more
// than the renewals). The due ones always go; the early ones fill the room they leave, soonest
// due first, so a burst of 10,000 grants is still renewed spread over the TTL and its batches,
// merging, stop at this size: a member answers one in tens of ms, far inside the answer timeout.
const minBatchRoom = 1000;
// The longest wait for an answer however slow the stream has been, before a third of the TTL.
const maxResponseTimeoutMs = 10_000;
// How much earlier than due a renewal may go to share a wake the process makes anyway (a
// cleared check, see `replan`). Batches of 1,000 leases at TTL 10 s were due 2-7 ms after it.
const wakeSharingMs = 50;
// How early `lost` may settle: room for a timer that runs late.
const lostMarginMs = 250;

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
  // The renewals not yet due that a wake may send with the due ones (reused: a wake allocates nothing).
  private readonly early: KeptLease[] = [];
  // The header of the last answer, shared by the kept leases whose answers carried the same.
  private header: ResponseHeader | undefined;
  // Renewals sent on the current stream and not yet answered.
  private inFlight = 0;
  private failures = 0;
  private restartAt = 0;
  private closed = false;
  // A pass found a lease at its deadline: `settleExpired` is due from setImmediate.
  private expiryPending = false;
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
    if (this.closed) {
      const keeper = new Keeper(keptLease(id, granted), this.dropKeeper);
      const error = new EtcdError("etcd-connect: client is closed", Code.Canceled, "closed");
      keeper.end(error);
      keeper.settleLost(error);
      return keeper;
    }
    let kept = this.leases.get(id);
    if (kept === undefined) {
      kept = keptLease(id, granted);
      this.leases.set(id, kept);
      this.options.observer?.onKeptLeases?.(this.leases.size);
    }
    const keeper = new Keeper(kept, this.dropKeeper);
    keeper.slot = kept.keepers.length;
    // Nearly every lease has one keeper: a literal holds exactly it, where a push onto an empty
    // array reserves room for 17 (136 B a lease).
    if (keeper.slot === 0) kept.keepers = [keeper];
    else kept.keepers.push(keeper);
    if (signal !== undefined) {
      if (signal.aborted) {
        this.drop(keeper);
        return keeper;
      }
      // One listener on the signal however many keepers share it (an app's shutdown signal).
      keeper.detach = onAbortOf(signal, () => this.drop(keeper));
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
      for (const keeper of lease.keepers.slice()) this.drop(keeper);
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
    this.schedule(this.pass(true));
  };

  // The pass of a wake. `withEarly`: renewals due soon go with the due ones. Not from `replan`,
  // right after a batch: that would send the next batch at once, and a burst of leases whose
  // renewals are spread over the TTL would be renewed in one go. Returns when the next wake is
  // due (Infinity for none).
  private pass(withEarly: boolean): number {
    const now = Date.now();
    if (this.stream === undefined && now >= this.restartAt && this.leases.size > 0) this.start();
    const canSend = this.stream !== undefined;
    let next = canSend ? Number.POSITIVE_INFINITY : this.restartAt;
    let oldestSent = Number.POSITIVE_INFINITY;
    let shortestTtl = Number.POSITIVE_INFINITY;
    const early = this.early;
    let due = 0;
    for (const lease of this.leases.values()) {
      // Settle early rather than late: `lost` must not come after the deadline, even when this
      // timer runs late behind a busy event loop. But not before the socket is read: after a
      // block of the event loop in an I/O callback, Node runs timers before it reads, and the
      // renewal's answer may be waiting there (see `settleExpired`).
      if (lease.deadline - now <= lostMarginMs) {
        if (!this.expiryPending) {
          this.expiryPending = true;
          setImmediate(this.settleExpired);
        }
        continue;
      }
      if (lease.ttlMs > 0 && lease.ttlMs < shortestTtl) shortestTtl = lease.ttlMs;
      let waits = canSend && lease.sentAt === 0;
      if (waits) {
        const dueInMs = lease.nextSendAt - now;
        if (dueInMs <= 0) {
          this.send(lease, now);
          due++;
          waits = false;
        } else if (withEarly && dueInMs <= lease.ttlMs / 6) {
          // Sent after the pass, soonest due first, in the room the due ones leave in the batch.
          early.push(lease);
          waits = false;
        }
      }
      if (lease.sentAt !== 0) {
        if (lease.sentAt < oldestSent) oldestSent = lease.sentAt;
      } else if (waits && lease.nextSendAt < next) {
        next = lease.nextSendAt;
      }
      if (lease.deadline - lostMarginMs < next) next = lease.deadline - lostMarginMs;
    }
    if (early.length > 0) {
      const room = Math.max(minBatchRoom, this.leases.size / 20) - due;
      if (early.length > room) early.sort(bySendTime);
      for (let i = 0; i < early.length; i++) {
        const lease = early[i] as KeptLease;
        if (i < room) {
          this.send(lease, now);
          if (now < oldestSent) oldestSent = now;
        } else if (lease.nextSendAt < next) {
          next = lease.nextSendAt;
        }
      }
      early.length = 0;
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
    return next;
  }

  // The leases whose deadline came in a pass, judged once the answers that arrived meanwhile
  // are read (setImmediate runs after the poll phase): a renewal answered in time moved the
  // deadline; a lease still at its deadline may have expired on the server.
  private readonly settleExpired = (): void => {
    this.expiryPending = false;
    const now = Date.now();
    for (const lease of this.leases.values()) {
      if (lease.deadline - now > lostMarginMs) continue;
      this.lose(
        lease,
        new EtcdError(
          `lease ${lease.id.toString(16)} may have expired: no keepalive was acknowledged within its TTL`,
          Code.DeadlineExceeded,
          "lease_expired",
        ),
      );
    }
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
    this.inFlight = 0;
    this.restartAt = 0;
    this.schedule(0);
  }

  private send(lease: KeptLease, now: number): void {
    if (this.stream === undefined) {
      if (now >= this.restartAt) this.start();
      if (this.stream === undefined) return;
    }
    if (lease.sentAt === 0) this.inFlight++;
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
    this.inFlight = 0;
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
    if (lease.sentAt !== 0) this.inFlight--;
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
    const header = response.header;
    if (response.$unknown !== undefined || header?.$unknown !== undefined) {
      lease.unknownAnswer = response;
    } else {
      lease.unknownAnswer = undefined;
      if (header !== undefined && (this.header === undefined || !sameHeader(header, this.header))) {
        this.header = header;
      }
      lease.header = header === undefined ? undefined : this.header;
      lease.ttl = response.TTL;
    }
    const keepers = lease.keepers;
    for (let i = 0; i < keepers.length; i++) (keepers[i] as Keeper).answered(response);
    if (this.inFlight === 0) this.replan();
  }

  // Every renewal sent has its answer: the timer, set to check for a late one, would wake for
  // nothing. It is set for what comes next instead (the next renewal or deadline), by a pass
  // made now, while the process is awake anyway. Renewals then go out when due, not when a check
  // happens to fall (the checks, a fixed time after each batch, used to pull renewals early).
  private replan(): void {
    if (this.timer === undefined) return;
    const clearedAt = this.timerAt;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const next = this.pass(false);
    // Node does not move its own timer later when a timeout is cleared: the process wakes at
    // `clearedAt` anyway, to find nothing to run. Renewals due just after that wake go with it.
    this.schedule(next > clearedAt && next - clearedAt <= wakeSharingMs ? clearedAt : next);
  }

  // The lease may be gone: every keeper hears it.
  private lose(lease: KeptLease, error: EtcdError): void {
    const keepers = lease.keepers.slice();
    this.remove(lease);
    for (const keeper of keepers) {
      keeper.detach?.();
      keeper.detach = undefined;
      keeper.settleLost(error);
      keeper.end(error);
    }
  }

  // One keeper stops; the lease is renewed as long as another keeps it.
  private drop(keeper: Keeper): void {
    keeper.detach?.();
    keeper.detach = undefined;
    keeper.end();
    const lease = keeper.lease;
    const keepers = lease.keepers;
    if (keepers[keeper.slot] !== keeper) return;
    // The last keeper takes the leaving one's place: order does not matter, each reads on its own.
    const last = keepers.pop() as Keeper;
    if (last !== keeper) {
      keepers[keeper.slot] = last;
      last.slot = keeper.slot;
    }
    keeper.slot = -1;
    if (keepers.length > 0) return;
    this.remove(lease);
  }

  // What a keeper calls to stop: one function for all of them, not a closure each.
  private readonly dropKeeper = (keeper: Keeper): void => this.drop(keeper);

  private remove(lease: KeptLease): void {
    lease.keepers.length = 0;
    if (this.leases.get(lease.id) !== lease) return;
    this.leases.delete(lease.id);
    if (lease.sentAt !== 0) {
      lease.sentAt = 0;
      this.inFlight--;
    }
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

function keptLease(id: bigint, granted: { sentAt: number; ttlMs: number } | undefined): KeptLease {
  return {
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
    header: undefined,
    ttl: 0n,
    unknownAnswer: undefined,
    keepers: [],
  };
}

function bySendTime(a: KeptLease, b: KeptLease): number {
  return a.nextSendAt - b.nextSendAt;
}

const done: IteratorResult<LeaseKeepAliveResponse> = Object.freeze({ done: true, value: undefined });

/**
 * One caller's keepAlive of a lease, as in Go's lease.go, which keeps a channel per caller:
 * closing it leaves the others keeping the lease. Its reader gets the answers as they come; one
 * that falls behind gets the latest only: an answer supersedes the one before (same lease, a
 * newer TTL). Go's clientv3 buffers 16 and then drops the newest; 1,000 kept leases would hold
 * 16,000 stale answers here. Not an `AsyncQueue`: a queue holds the item it is given, and the
 * point is to hold no answer at all (see `KeptLease.header`), only that one is unread.
 * States: reading or not (`waiting`), an answer unread or not (`unread`, never with `waiting`),
 * ended or not (`ended`, after which an unread answer is still handed out, then the error once,
 * then done).
 */
class Keeper implements LeaseKeeper {
  readonly id: bigint;
  /** @internal */ readonly lease: KeptLease;
  /** @internal Removes the listener on the caller's signal once the keeper stops. */
  detach: (() => void) | undefined = undefined;
  /** @internal Its index in the lease's `keepers`, -1 once dropped: a keeper leaves in O(1). */
  slot = -1;
  private readonly stop: (keeper: Keeper) => void;
  private unread = false;
  private waiting: ((result: IteratorResult<LeaseKeepAliveResponse>) => void) | undefined = undefined;
  private failWaiting: ((error: EtcdError) => void) | undefined = undefined;
  private ended = false;
  private error: EtcdError | undefined = undefined;
  // `lost` is made when first read: a promise with its resolving function costs some 160 B, as
  // much as the rest of the keeper, and a keeper whose `lost` nobody reads needs neither. Read
  // after the loss, it is made settled with `lostError`.
  private lostPromise: Promise<EtcdError> | undefined = undefined;
  private resolveLost: ((error: EtcdError) => void) | undefined = undefined;
  private lostError: EtcdError | undefined = undefined;

  constructor(lease: KeptLease, stop: (keeper: Keeper) => void) {
    this.id = lease.id;
    this.lease = lease;
    this.stop = stop;
  }

  get lost(): Promise<EtcdError> {
    if (this.lostPromise === undefined) {
      const error = this.lostError;
      this.lostPromise =
        error !== undefined
          ? Promise.resolve(error)
          : new Promise<EtcdError>((resolve) => {
              this.resolveLost = resolve;
            });
    }
    return this.lostPromise;
  }

  /** @internal The lease may be gone; the first reason is the one `lost` gives. */
  settleLost(error: EtcdError): void {
    if (this.lostError !== undefined) return;
    this.lostError = error;
    const resolve = this.resolveLost;
    this.resolveLost = undefined;
    resolve?.(error);
  }

  /** @internal The lease's last answer came: a waiting reader takes it, or it waits unread. */
  answered(response: LeaseKeepAliveResponse): void {
    if (this.ended) return;
    const waiting = this.waiting;
    if (waiting === undefined) {
      this.unread = true;
      return;
    }
    this.waiting = undefined;
    this.failWaiting = undefined;
    waiting({ done: false, value: response });
  }

  /** @internal No more answers: the reader gets an unread one, then `error` (or done). */
  end(error?: EtcdError): void {
    if (this.ended) return;
    this.ended = true;
    const waiting = this.waiting;
    if (waiting === undefined) {
      // Kept for the reader's next call, after the unread answer if there is one.
      this.error = error;
      return;
    }
    const fail = this.failWaiting;
    this.waiting = undefined;
    this.failWaiting = undefined;
    if (error !== undefined) fail?.(error);
    else waiting(done);
  }

  private next(): Promise<IteratorResult<LeaseKeepAliveResponse>> {
    if (this.unread) {
      this.unread = false;
      const lease = this.lease;
      return Promise.resolve({
        done: false,
        value: lease.unknownAnswer ?? keepAliveAnswer(lease.id, lease.header, lease.ttl),
      });
    }
    if (this.ended) {
      const error = this.error;
      this.error = undefined;
      return error === undefined ? Promise.resolve(done) : Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.failWaiting = reject;
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<LeaseKeepAliveResponse> {
    return {
      next: () => this.next(),
      return: async () => {
        this.stop(this);
        return done;
      },
    };
  }

  close(): Promise<void> {
    this.stop(this);
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
