/**
 * How far an agent's clock is from this process's, learnt from the timestamps on its messages.
 *
 * A run's start and end happen on the agent, and the coordinator records them. Dating each by when its
 * message arrived made the record depend on how long each message took: on a one-slot node a finish that
 * waited behind a busy turn was recorded up to a few milliseconds after the next run's start. Here the
 * times an agent reports are mapped with one offset per connection, so two instants keep the order and
 * the gap they had on the agent.
 *
 * The offset is the least `arrival - stamp` seen over the last one to two windows of `WINDOW_MS`: the
 * sample with the least delay in it. Clock skew, and a time zone a bridge left out of its timestamps,
 * are all in the offset. A window, not all time, so that drift and a clock stepped on either side are
 * followed within two windows.
 */
export class AgentClock {
  static readonly WINDOW_MS = 5_000;

  private current = Number.POSITIVE_INFINITY;
  private previous = Number.POSITIVE_INFINITY;
  private windowStart = Number.NEGATIVE_INFINITY;

  /** Takes in one message: `stamp` is the time the agent wrote on it, `now` when it arrived here. */
  observe(stamp: number, now: number): void {
    if (!Number.isFinite(stamp)) return;
    const elapsed = now - this.windowStart;
    if (elapsed >= AgentClock.WINDOW_MS || elapsed < 0) {
      // A window with no samples (or a clock that went back) leaves nothing to carry over.
      this.previous =
        elapsed < 2 * AgentClock.WINDOW_MS && elapsed >= 0 ? this.current : Number.POSITIVE_INFINITY;
      this.current = Number.POSITIVE_INFINITY;
      this.windowStart = now;
    }
    this.current = Math.min(this.current, now - stamp);
  }

  /**
   * This process's time for the agent's time `at`, never after `now`; `fallback` when no offset is known
   * or `at` is not a time.
   */
  toLocal(at: number, now: number, fallback: number): number {
    const offset = Math.min(this.previous, this.current);
    if (offset === Number.POSITIVE_INFINITY || !Number.isFinite(at)) return fallback;
    return Math.min(now, Math.floor(at + offset));
  }
}
