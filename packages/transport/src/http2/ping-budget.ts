/**
 * How a server polices the pings it receives: gRPC's keepalive enforcement. A ping that comes
 * sooner than `minTimeMs` after the previous one (or any ping while no stream is open) is a
 * strike, unless the server sent HEADERS or DATA since that previous ping; past `maxStrikes`
 * the server closes the connection with GOAWAY `too_many_pings`.
 *
 * etcd runs gRPC-Go with `--grpc-keepalive-min-time` (5 s by default) and gRPC-Go's fixed two
 * strikes.
 */
export interface ServerPingPolicy {
  minTimeMs: number;
  maxStrikes: number;
}

// Our clock and the server's disagree by the network delay and scheduling: an interval is
// counted as a strike unless it clears the minimum by this much.
const marginMs = 1_000;

/**
 * The client's copy of the server's strike counter, so probes ping as often as the server
 * allows and never once more. A ping after the server wrote to us costs nothing: a connection
 * that carries answers can be checked at any time. Only answers read after the ACK of our
 * previous ping count, since the server cleared its flag when it took that ping.
 *
 * Keeps one of the server's strikes in reserve, for the ordering we cannot see (an answer the
 * server wrote just as it took our ping).
 */
export class PingBudget {
  private readonly policy: ServerPingPolicy | undefined;
  private lastPingAt = Number.NEGATIVE_INFINITY;
  private strikes = 0;
  private writesAtAck = 0;
  private awaitingAck = false;

  constructor(policy: ServerPingPolicy | undefined) {
    this.policy = policy;
  }

  /** Strikes a ping sent now would cost: 0 or 1. `serverWrites` counts HEADERS and DATA read. */
  private cost(now: number, serverWrites: number, openStreams: number): number {
    const policy = this.policy;
    if (policy === undefined) return 0;
    if (!this.awaitingAck && serverWrites > this.writesAtAck) return 0;
    if (openStreams === 0) return 1;
    return now - this.lastPingAt < policy.minTimeMs + marginMs ? 1 : 0;
  }

  /** Whether a ping now stays within the server's policy, with one strike to spare. */
  allows(now: number, serverWrites: number, openStreams: number): boolean {
    const policy = this.policy;
    if (policy === undefined) return true;
    const cost = this.cost(now, serverWrites, openStreams);
    return cost === 0 || this.strikes + cost <= policy.maxStrikes - 1;
  }

  /** Whether a ping now costs no strike at all. */
  free(now: number, serverWrites: number, openStreams: number): boolean {
    return this.cost(now, serverWrites, openStreams) === 0;
  }

  /** Records a ping sent now. */
  sent(now: number, serverWrites: number, openStreams: number): void {
    const cost = this.cost(now, serverWrites, openStreams);
    this.strikes =
      cost === 0 && !this.awaitingAck && serverWrites > this.writesAtAck ? 0 : this.strikes + cost;
    this.lastPingAt = now;
    this.awaitingAck = true;
  }

  /** Records the ACK of our latest ping; `serverWrites` as read up to it. */
  acked(serverWrites: number): void {
    this.awaitingAck = false;
    this.writesAtAck = serverWrites;
  }

  /** Forgets a ping whose ACK will not be awaited: answers read later still prove nothing about it. */
  abandoned(serverWrites: number): void {
    this.awaitingAck = false;
    this.writesAtAck = serverWrites;
  }
}
