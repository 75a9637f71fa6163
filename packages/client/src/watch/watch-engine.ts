import {
  Code,
  type Client as ConnectClient,
  ConnectError,
  type ContextValues,
  createContextValues,
} from "@connectrpc/connect";
import {
  type WatchCreateRequest,
  WatchCreateRequest_FilterType,
  type WatchRequest,
  type WatchResponse,
  type Watch as WatchService,
} from "@etcd-connect/api/etcdserverpb";
import type { Event } from "@etcd-connect/api/mvccpb";
import { onAbort, poll, RttEstimator, serverText } from "@etcd-connect/transport";
import { AsyncQueue } from "../async-queue.js";
import type { Bytes } from "../bytes.js";
import { toBytes } from "../bytes.js";
import { type Attempt, beginAttempt } from "../call/attempt.js";
import { exponentialBackoff } from "../call/backoff.js";
import type { MemberHealth } from "../call/endpoint-pool.js";
import type { ClientLogger, ClientObserver } from "../client-options.js";
import { EtcdError, type EtcdErrorReason, invalidArgument, toEtcdError } from "../errors.js";
import { toInt64 } from "../int64.js";
import { isEmptyRange, keyRange } from "../key-range.js";
import {
  type WatchBatch,
  type Watcher,
  WatcherImpl,
  type WatchHandle,
  type WatchOptions,
  type WatchStatus,
} from "./watch.js";
import { cancelMessage, createMessage, progressMessage, watchCreateRequest } from "./watch-requests.js";

/** Options of the {@link WatchEngine}. */
export interface WatchEngineOptions {
  /**
   * After this long without a message, the stream is asked for progress. The answer may take
   * as long as the stream's round trips allow (never less than this, at most four times it);
   * a later one has the member checked with a PING and the stream moved to another member.
   */
  silenceMs: number;
  /** The members behind the stream: asked for evidence, and whether the stream could move. */
  members?: MemberHealth | undefined;
  /** Events a watcher may hold for a slow reader before the engine pauses it on the server. */
  maxBufferedEvents: number;
  /**
   * Bytes of keys and values one watch may reassemble from fragments (the client's
   * `maxCallRecvMsgSize`): a fragmented answer is one message split by the server.
   */
  maxFragmentBytes: number;
  /** Drops the cached auth token, so the next stream authenticates afresh. */
  reauthenticate?: (() => void) | undefined;
  logger?: ClientLogger | undefined;
  observer?: ClientObserver | undefined;
}

interface WatchState {
  /** The create request; its start revision is moved forward as events are delivered. */
  readonly create: WatchCreateRequest;
  readonly queue: AsyncQueue<WatchBatch>;
  /** Removes the listener on the caller's signal once the watch ends. */
  detach: (() => void) | undefined;
  /** Settles the watcher's `ready` on the first created answer, or when the watch ends. */
  onCreated: ((error?: unknown) => void) | undefined;
  /** The server watch id of the current create, or undefined while none is live. */
  id: bigint | undefined;
  /** Set once the watch has a pinned resume point (an event or its created answer). */
  pinned: boolean;
  /** Events delivered and not yet read. */
  buffered: number;
  /** Canceled on the server for a slow reader; re-created once the reader caught up. */
  paused: boolean;
  /** The id whose cancel etcd has yet to confirm; a resume waits for it, or events could repeat. */
  cancelPending: bigint | undefined;
  fragments: Event[] | undefined;
  /** Bytes of keys and values in `fragments`. */
  fragmentBytes: number;
  /** Whether etcd serves the watch now; see {@link WatchStatus}. */
  status: WatchStatus;
  /** Readers of `statusChanged()` waiting for the next change. */
  statusWaiters: Array<(status: WatchStatus) => void> | undefined;
}

const noFilters: WatchCreateRequest_FilterType[] = [];

interface Stream {
  readonly abort: AbortController;
  readonly requests: AsyncQueue<WatchRequest>;
  /** Creates not yet answered, oldest first: etcd answers them in order. */
  readonly pendingCreates: WatchState[];
  lastHeardAt: number;
  progressSentAt: number;
  /** Where the balanced transport opened it. */
  readonly attempt: Attempt;
}

// Cancel reasons after which the watch can go on elsewhere; anything else ends it. Only
// reasons etcd names: a text we do not know (etcd 3.4's "mvcc: watcher range is empty", say)
// reads as `unavailable` and ends that one watch, as Go ends it, instead of moving the stream
// and every watch on it, only to be refused again.
const recoverable = new Set<EtcdErrorReason>([
  "no_leader",
  "leader_changed",
  "invalid_auth_token",
  "auth_old_revision",
  "stopped",
  "timeout",
]);

/**
 * Every watch of a client on one bidirectional Watch stream. When the stream fails it is
 * re-created (on another member, through the balancer) and each watch resumes from its last
 * delivered event's mod_revision + 1, so no event is lost or repeated.
 */
export class WatchEngine {
  private readonly rpc: ConnectClient<typeof WatchService>;
  private readonly options: WatchEngineOptions;
  private readonly watches = new Set<WatchState>();
  private readonly byId = new Map<bigint, WatchState>();
  private stream: Stream | undefined;
  private nextId = 1n;
  private failures = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private silenceTimer: NodeJS.Timeout | undefined;
  private progressWaiters: Array<() => void> = [];
  private closed = false;
  // Round trips of silence checks: how long a progress answer may take before it is late.
  private readonly rtt: RttEstimator;
  // The member the last stream left for going silent: the next one goes elsewhere if it can.
  private avoid: string | undefined;

  constructor(rpc: ConnectClient<typeof WatchService>, options: WatchEngineOptions) {
    this.rpc = rpc;
    this.options = options;
    this.rtt = new RttEstimator({ floorMs: options.silenceMs, ceilingMs: 4 * options.silenceMs });
  }

  /** Starts a watch; validates its options before anything is sent. */
  watch(key: Bytes, options: WatchOptions = {}): Watcher {
    // Shared when empty, as most are: 10,000 watchers need not hold 10,000 empty arrays.
    let filters = noFilters;
    if (options.noPut || options.noDelete) {
      filters = [];
      if (options.noPut) filters.push(WatchCreateRequest_FilterType.NOPUT);
      if (options.noDelete) filters.push(WatchCreateRequest_FilterType.NODELETE);
    }
    const startRevision =
      options.startRevision === undefined ? 0n : toInt64("startRevision", options.startRevision);
    const range = keyRange(toBytes(key), options);
    if (options.rangeEnd !== undefined && isEmptyRange(range.key, range.rangeEnd)) {
      // etcd refuses it ("watcher range is empty"): said here, before anything is sent.
      throw invalidArgument(
        'watch rangeEnd must be greater than the key (or empty, or "\\0" for every key after it)',
      );
    }
    const createRequest = watchCreateRequest({
      key: range.key,
      rangeEnd: range.rangeEnd,
      startRevision,
      prevKv: options.prevKv ?? false,
      progressNotify: options.progressNotify ?? false,
      fragment: options.fragment ?? false,
      filters,
    });
    let onCreated: ((error?: unknown) => void) | undefined;
    const ready = new Promise<void>((resolve, reject) => {
      onCreated = (error) => (error === undefined ? resolve() : reject(error));
    });
    // Nobody may await it; an ending watch must not become an unhandled rejection.
    ready.catch(() => {});
    const state: WatchState = {
      create: createRequest,
      queue: new AsyncQueue<WatchBatch>(),
      detach: undefined,
      onCreated,
      id: undefined,
      pinned: startRevision !== 0n,
      buffered: 0,
      paused: false,
      cancelPending: undefined,
      fragments: undefined,
      fragmentBytes: 0,
      status: { state: "connecting", since: Date.now(), revision: startRevision },
      statusWaiters: undefined,
    };
    const handle = new EngineWatchHandle(this, state, ready);
    if (this.closed) {
      this.end(state, new EtcdError("etcd-connect: client is closed", Code.Canceled, "closed"));
      return new WatcherImpl(handle);
    }
    const signal = options.signal;
    if (signal?.aborted) {
      this.end(state);
      return new WatcherImpl(handle);
    }
    if (signal !== undefined) {
      // One listener on the signal however many watches share it (an app's shutdown signal).
      state.detach = onAbort(signal, () => this.remove(state));
    }
    this.watches.add(state);
    this.options.observer?.onWatches?.(this.watches.size);
    if (this.stream === undefined) this.scheduleStart(0);
    else this.sendCreate(this.stream, state);
    return new WatcherImpl(handle);
  }

  /**
   * Asks the member to confirm progress; resolves when it answers. Watchers that asked for
   * `progressNotify` get an empty batch with `progress: true`.
   */
  requestProgress(timeoutMs = 5_000): Promise<void> {
    const stream = this.stream;
    if (stream === undefined && this.watches.size === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.progressWaiters = this.progressWaiters.filter((w) => w !== done);
        reject(
          new EtcdError(
            "no progress answer from the watch stream",
            Code.DeadlineExceeded,
            "deadline_exceeded",
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.progressWaiters.push(done);
      // Without a stream yet, start() sends it after the creates.
      stream?.requests.push(progressMessage());
    });
  }

  /**
   * Ends every watch and the stream. A reader's loop ends as it does after `break`: closing the
   * client on shutdown is not a failure of its watches. A `ready` still pending rejects (closed).
   */
  close(): void {
    this.closed = true;
    clearTimeout(this.restartTimer);
    const error = new EtcdError("etcd-connect: client is closed", Code.Canceled, "closed");
    for (const state of [...this.watches]) {
      state.onCreated?.(error);
      state.onCreated = undefined;
      this.end(state);
    }
    this.stopStream();
  }

  private scheduleStart(delayMs: number): void {
    if (this.restartTimer !== undefined || this.closed) return;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stream === undefined && this.watches.size > 0 && !this.closed) this.start();
    }, delayMs);
  }

  private start(): void {
    const abort = new AbortController();
    const requests = new AsyncQueue<WatchRequest>();
    const contextValues = createContextValues();
    const attempt = beginAttempt(contextValues);
    attempt.avoid = this.avoid;
    this.avoid = undefined;
    const stream: Stream = {
      abort,
      requests,
      pendingCreates: [],
      lastHeardAt: Date.now(),
      progressSentAt: 0,
      attempt,
    };
    this.stream = stream;
    this.options.observer?.onWatchStreams?.(1);
    this.byId.clear();
    for (const state of this.watches) {
      state.id = undefined;
      state.cancelPending = undefined;
      state.fragments = undefined;
      state.fragmentBytes = 0;
      if (!state.paused) this.sendCreate(stream, state);
    }
    if (this.progressWaiters.length > 0) {
      stream.requests.push(progressMessage());
    }
    // Checked from setImmediate: messages that arrived while the event loop was busy are read
    // first, so a late timer is not mistaken for a silent member.
    this.silenceTimer = setInterval(
      () => setImmediate(() => this.checkSilence(stream)),
      this.options.silenceMs / 2,
    ).unref();
    void this.run(stream, contextValues);
  }

  private async run(stream: Stream, contextValues: ContextValues): Promise<void> {
    let failure: unknown;
    try {
      const responses = this.rpc
        .watch(stream.requests, { signal: stream.abort.signal, contextValues })
        [Symbol.asyncIterator]();
      for (;;) {
        // The messages one read delivered are handled in one go, not a promise each.
        const result = poll(responses) ?? (await responses.next());
        if (result.done === true || this.stream !== stream) break;
        const response = result.value;
        const now = Date.now();
        // Any message answers a silence check: the stream is alive.
        if (stream.progressSentAt > stream.lastHeardAt) this.rtt.sample(now - stream.progressSentAt);
        stream.lastHeardAt = now;
        this.handle(stream, response);
      }
    } catch (error) {
      failure = error;
    }
    if (this.stream !== stream) return;
    this.stopStream();
    if (this.watches.size === 0 || this.closed) return;
    for (const state of this.watches) {
      if (state.status.state === "connected") this.setStatus(state, "reconnecting");
    }
    const reason = failure === undefined ? undefined : toEtcdError(failure).reason;
    // A stream refused for its token: the next one must authenticate afresh.
    if (reason === "invalid_auth_token" || reason === "auth_old_revision") this.options.reauthenticate?.();
    this.failures++;
    const delay = exponentialBackoff(this.failures - 1, 100, 5_000);
    this.options.logger?.warn?.("etcd watch stream failed; resuming", {
      error: failure instanceof Error ? failure.message : String(failure),
      retryInMs: Math.round(delay),
    });
    this.scheduleStart(delay);
  }

  private stopStream(): void {
    const stream = this.stream;
    if (stream === undefined) return;
    this.stream = undefined;
    this.options.observer?.onWatchStreams?.(0);
    clearInterval(this.silenceTimer);
    stream.requests.end();
    stream.abort.abort();
    this.byId.clear();
  }

  // A silent stream may be dead without the connection knowing (etcd refuses pings more often
  // than every 5 s): it is asked for progress, and an answer later than its round trips allow
  // has the member checked with a PING (a dead connection fails the stream and is ejected) and
  // the stream moved, when another member can take it. Lateness alone ejects nobody.
  private checkSilence(stream: Stream): void {
    if (this.stream !== stream) return;
    const now = Date.now();
    if (now - stream.lastHeardAt < this.options.silenceMs) return;
    if (stream.progressSentAt > stream.lastHeardAt) {
      const timeoutMs = this.rtt.timeoutMs();
      const waitedMs = now - stream.progressSentAt;
      if (waitedMs < timeoutMs) return;
      const endpoint = stream.attempt.endpoint;
      const members = this.options.members;
      if (endpoint !== undefined && members !== undefined) {
        members.probe(endpoint);
        if (!members.hasAlternative(endpoint)) {
          // Waiting on the same member: the next wait is longer.
          this.rtt.backoff();
          this.options.logger?.warn?.("etcd watch stream is silent; waiting for the only member", {
            endpoint,
            waitedMs,
          });
          // Asks again, and waits the longer timeout for that answer.
          this.askProgress(stream, now);
          return;
        }
      }
      // Canceled, not Unavailable: the member is not reported failed for being slow; the next
      // stream only passes it over.
      this.avoid = endpoint;
      stream.abort.abort(
        new Error(`watch stream silent: no progress answer within ${Math.round(timeoutMs)} ms`),
      );
      return;
    }
    this.askProgress(stream, now);
  }

  private askProgress(stream: Stream, now: number): void {
    stream.progressSentAt = now;
    stream.requests.push(progressMessage());
  }

  private sendCreate(stream: Stream, state: WatchState): void {
    const id = this.nextId++;
    state.id = id;
    state.create.watchId = id;
    this.byId.set(id, state);
    stream.pendingCreates.push(state);
    stream.requests.push(createMessage(state.create));
  }

  private sendCancel(state: WatchState): void {
    const id = state.id;
    if (id === undefined) return;
    state.id = undefined;
    state.cancelPending = id;
    this.stream?.requests.push(cancelMessage(id));
  }

  private handle(stream: Stream, response: WatchResponse): void {
    // etcd 3.4 answers a refused create (permission denied) with watch id -1: the answer
    // belongs to the oldest create still waiting.
    const state = response.created
      ? (stream.pendingCreates.shift() ?? this.byId.get(response.watchId))
      : this.byId.get(response.watchId);
    if (state === undefined) {
      // A progress answer to requestProgress carries no watch of ours (etcd uses id -1).
      if (response.events.length === 0 && !response.created && !response.canceled) this.progressed(response);
      return;
    }
    if (response.created) {
      if (!response.canceled) {
        // A watch etcd took: the stream works. A refused create says nothing of that.
        this.failures = 0;
        state.onCreated?.();
        state.onCreated = undefined;
      }
      if (!state.pinned) {
        // Pin what "now" meant, so a resume after a failure starts right after it.
        state.create.startRevision = (response.header?.revision ?? 0n) + 1n;
        state.pinned = true;
      }
      if (!response.canceled) this.setStatus(state, "connected");
    }
    if (response.canceled) {
      if (state.id !== undefined && response.created) this.byId.delete(state.id);
      this.byId.delete(response.watchId);
      if (state.id === response.watchId || response.created) state.id = undefined;
      if (state.cancelPending === response.watchId) {
        state.cancelPending = undefined;
        this.maybeResume(state);
        return;
      }
      if (!this.watches.has(state)) return;
      this.canceled(stream, state, response);
      return;
    }
    if (response.events.length === 0) {
      if (response.created) return;
      // A progress notification for this watch: etcd sends one only to a watch that has been
      // sent every event up to its revision, so a resume may start after it (Go's nextRev).
      // Otherwise a watch on a quiet key resumes from its last event, long compacted in a busy
      // cluster, and ends with a false `compacted`. Never backwards: a watch that starts in the
      // future hears of progress before its start.
      const revision = response.header?.revision ?? 0n;
      if (revision >= state.create.startRevision) {
        state.create.startRevision = revision + 1n;
        state.pinned = true;
      }
      if (state.create.progressNotify) this.deliver(state, { events: [], revision, progress: true });
      return;
    }
    if (response.fragment || state.fragments !== undefined) {
      if (!state.create.fragment) {
        // Thrown into the stream's read loop: the stream is reset and re-created.
        throw new ConnectError("the member sent watch fragments that were not asked for", Code.Internal);
      }
      state.fragments ??= [];
      for (const event of response.events) {
        state.fragments.push(event);
        state.fragmentBytes += eventBytes(event);
      }
      if (state.fragmentBytes > this.options.maxFragmentBytes) {
        this.remove(state, fragmentsTooLarge(state.fragmentBytes, this.options.maxFragmentBytes));
        return;
      }
      if (response.fragment) return;
    }
    const events = state.fragments ?? response.events;
    state.fragments = undefined;
    state.fragmentBytes = 0;
    const last = events[events.length - 1];
    // Resume right after the last delivered event; never from header.revision + 1, which may
    // lie past events not yet sent during a catch-up.
    if (last?.kv !== undefined) state.create.startRevision = last.kv.modRevision + 1n;
    state.pinned = true;
    this.deliver(state, { events, revision: response.header?.revision ?? 0n, progress: false });
  }

  private canceled(stream: Stream, state: WatchState, response: WatchResponse): void {
    if (response.compactRevision > 0n) {
      this.end(
        state,
        new EtcdError(
          `watch start revision ${state.create.startRevision} was compacted (compact revision ${response.compactRevision})`,
          Code.OutOfRange,
          "compacted",
          { compactRevision: response.compactRevision },
        ),
      );
      return;
    }
    const error = toEtcdError(
      new ConnectError(serverText(response.cancelReason) || "watch canceled by the server", Code.Unavailable),
    );
    if (!recoverable.has(error.reason)) {
      this.end(state, error);
      return;
    }
    if (error.reason === "invalid_auth_token" || error.reason === "auth_old_revision")
      this.options.reauthenticate?.();
    // The member cannot serve this watch now: move the whole stream, every watch resuming.
    stream.abort.abort(error);
  }

  private progressed(response: WatchResponse): void {
    const waiters = this.progressWaiters;
    this.progressWaiters = [];
    for (const done of waiters) done();
    const revision = response.header?.revision ?? 0n;
    for (const state of this.watches) {
      if (state.create.progressNotify) this.deliver(state, { events: [], revision, progress: true });
    }
  }

  private deliver(state: WatchState, batch: WatchBatch): void {
    state.queue.push(batch);
    state.buffered += batch.events.length;
    // Taken at once by a reader that was waiting for it: not held for a reader that fell
    // behind, however many events it carries. (A watch that is far behind gets 1,000
    // revisions an answer from etcd; pausing after each answer cost a round trip and a pass of
    // etcd's sync loop, up to 100 ms, per answer.)
    if (state.queue.size === 0) return;
    // A slow reader: stop the server sending, resume from the next revision once it caught up.
    if (state.buffered > this.options.maxBufferedEvents && !state.paused) {
      state.paused = true;
      this.sendCancel(state);
    }
  }

  /** The reader took a batch; see {@link WatchHandle.consumed}. */
  consumed(state: WatchState, batch: WatchBatch): void {
    state.buffered -= batch.events.length;
    this.maybeResume(state);
  }

  private maybeResume(state: WatchState): void {
    if (!state.paused || state.cancelPending !== undefined || state.queue.size > 0) return;
    if (!this.watches.has(state)) return;
    state.paused = false;
    if (this.stream !== undefined) this.sendCreate(this.stream, state);
  }

  private end(state: WatchState, error?: unknown): void {
    state.detach?.();
    state.detach = undefined;
    this.setStatus(state, "closed");
    if (this.watches.delete(state)) this.options.observer?.onWatches?.(this.watches.size);
    state.queue.end(error);
    state.onCreated?.(
      error ?? new EtcdError("watch closed before etcd confirmed it", Code.Canceled, "canceled"),
    );
    state.onCreated = undefined;
    if (this.watches.size === 0) this.stopStream();
  }

  /** The status with the revision the watch goes on from (start revision moves with deliveries). */
  statusOf(state: WatchState): WatchStatus {
    return state.status.revision === state.create.startRevision
      ? state.status
      : { ...state.status, revision: state.create.startRevision };
  }

  private setStatus(state: WatchState, next: WatchStatus["state"]): void {
    if (state.status.state === next || state.status.state === "closed") return;
    state.status = { state: next, since: Date.now(), revision: state.create.startRevision };
    const waiters = state.statusWaiters;
    state.statusWaiters = undefined;
    for (const waiter of waiters ?? []) waiter(state.status);
  }

  /** Ends a watch: cancelled on the server, its reader finished (with `error`, if any). */
  remove(state: WatchState, error?: unknown): void {
    if (!this.watches.has(state)) return;
    this.sendCancel(state);
    this.end(state, error);
  }
}

// The watcher's side of one watch, as methods over the engine and the watch's state rather than
// closures made per watch: 10,000 watchers held 50,000 closures.
class EngineWatchHandle implements WatchHandle {
  private readonly engine: WatchEngine;
  private readonly state: WatchState;
  readonly ready: Promise<void>;

  constructor(engine: WatchEngine, state: WatchState, ready: Promise<void>) {
    this.engine = engine;
    this.state = state;
    this.ready = ready;
  }

  get queue(): AsyncQueue<WatchBatch> {
    return this.state.queue;
  }

  consumed(batch: WatchBatch): void {
    this.engine.consumed(this.state, batch);
  }

  close(): void {
    this.engine.remove(this.state);
  }

  status(): WatchStatus {
    return this.engine.statusOf(this.state);
  }

  statusChanged(): Promise<WatchStatus> {
    const state = this.state;
    if (state.status.state === "closed") return Promise.resolve(state.status);
    return new Promise((resolve) => {
      state.statusWaiters ??= [];
      state.statusWaiters.push(resolve);
    });
  }
}

// What a fragment holds that counts toward the message size limit.
function eventBytes(event: Event): number {
  const kv = event.kv;
  const prev = event.prevKv;
  return (kv ? kv.key.length + kv.value.length : 0) + (prev ? prev.key.length + prev.value.length : 0);
}

function fragmentsTooLarge(bytes: number, limit: number): EtcdError {
  return new EtcdError(
    `a fragmented watch answer of over ${bytes} bytes, larger than maxCallRecvMsgSize ${limit}`,
    Code.ResourceExhausted,
    "message_too_large",
  );
}
