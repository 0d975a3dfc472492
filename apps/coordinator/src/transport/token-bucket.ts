/**
 * A token bucket: the rate limiter behind the transport's per-connection and per-token limits. It owns
 * only its level and the time it was last refilled; the clock is passed in so tests need no timers.
 */

/** Allows `ratePerSecond` events a second on average, and bursts of up to `burst` at once. */
export class TokenBucket {
  private level: number;
  private refilledAt: number;

  /**
   * @param ratePerSecond tokens added each second (0 turns the limit off: every event is allowed)
   * @param burst the most tokens held; a new bucket starts full
   * @param clock the time in ms (`Date.now` in production)
   */
  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly clock: () => number,
  ) {
    this.level = burst;
    this.refilledAt = clock();
  }

  /** Takes `count` tokens (one by default) if there are as many: `true` means the events are within the limit. */
  take(count = 1): boolean {
    if (this.ratePerSecond === 0) return true;
    const now = this.clock();
    const elapsed = now - this.refilledAt;
    if (elapsed > 0) {
      this.level = Math.min(this.burst, this.level + (elapsed * this.ratePerSecond) / 1000);
      this.refilledAt = now;
    }
    if (this.level < count) return false;
    this.level -= count;
    return true;
  }
}
