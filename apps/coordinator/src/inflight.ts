/**
 * Counts work under way (frames being handled, script writes, background steps) so `stop()` can wait for
 * it to end. A count rather than a set of promises: the hot path pays an increment and a decrement, not a
 * hash of each promise and a `finally` promise to take it out again.
 */
export class InFlight {
  private count = 0;
  private waiters: (() => void)[] = [];

  /** Work under way now. */
  get size(): number {
    return this.count;
  }

  enter(): void {
    this.count += 1;
  }

  leave(): void {
    this.count -= 1;
    if (this.count > 0 || this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Resolves once nothing is under way (at once when nothing is). */
  idle(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
