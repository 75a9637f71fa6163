/** Options of an {@link RttEstimator}. */
export interface RttEstimatorOptions {
  /** The shortest timeout it gives, in ms; also the timeout before the first sample. */
  floorMs: number;
  /** The longest timeout it gives, in ms, backoff included. */
  ceilingMs: number;
}

// RFC 6298's gains: SRTT moves 1/8 of the way to a sample, RTTVAR 1/4; the timeout is SRTT
// plus four RTTVAR.
const alpha = 1 / 8;
const beta = 1 / 4;
const k = 4;

/**
 * How long to wait for an answer on one path before suspecting it: the smoothed round trip
 * plus four times its variation (TCP's retransmission timer, RFC 6298), between a floor and a
 * ceiling. A fixed timeout cannot tell a slow peer from a dead one; this one grows with the
 * delays the path has shown, and doubles after each expiry until the next answer (Karn's
 * backoff), so a member slowed by a burst is waited for rather than given up on.
 */
export class RttEstimator {
  private readonly floorMs: number;
  private readonly ceilingMs: number;
  private srtt = 0;
  private rttvar = 0;
  private samples = 0;
  private backoffs = 0;

  constructor(options: RttEstimatorOptions) {
    this.floorMs = options.floorMs;
    this.ceilingMs = Math.max(options.floorMs, options.ceilingMs);
  }

  /** Records one round trip, in ms; an answer also ends any backoff. */
  sample(rttMs: number): void {
    const r = Math.max(0, rttMs);
    if (this.samples === 0) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = (1 - beta) * this.rttvar + beta * Math.abs(this.srtt - r);
      this.srtt = (1 - alpha) * this.srtt + alpha * r;
    }
    this.samples++;
    this.backoffs = 0;
  }

  /** A timeout expired without an answer: the next one is twice as long, up to the ceiling. */
  backoff(): void {
    if (this.timeoutMs() < this.ceilingMs) this.backoffs++;
  }

  /** The current timeout, in ms. */
  timeoutMs(): number {
    const base = this.samples === 0 ? this.floorMs : this.srtt + k * this.rttvar;
    const bounded = Math.min(this.ceilingMs, Math.max(this.floorMs, base));
    return Math.min(this.ceilingMs, bounded * 2 ** this.backoffs);
  }

  /** The smoothed round trip, in ms, or undefined before the first sample. */
  get smoothedMs(): number | undefined {
    return this.samples === 0 ? undefined : this.srtt;
  }
}
