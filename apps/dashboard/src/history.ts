/**
 * Bounded time series for the charts: one per node (load, memory used) and the fleet's counters (queue
 * depth, steals, reroutes, finished tasks). Samples older than the window are dropped as new ones come.
 */

/** How much history the charts show. */
export const WINDOW_MS = 15 * 60_000;

/** Parallel arrays, as uPlot takes them: times in seconds, then one array per series. */
export class Series {
  readonly times: number[] = [];
  readonly values: number[][];

  constructor(readonly names: readonly string[]) {
    this.values = names.map(() => []);
  }

  /** Adds one sample at `atMs` (one value per series) and forgets what fell out of the window. */
  push(atMs: number, sample: readonly number[]): void {
    const seconds = atMs / 1000;
    const lastTime = this.times[this.times.length - 1];
    if (lastTime !== undefined && seconds <= lastTime) return;
    this.times.push(seconds);
    this.values.forEach((values, index) => {
      values.push(sample[index] ?? 0);
    });
    const cutoff = (atMs - WINDOW_MS) / 1000;
    let drop = 0;
    while (drop < this.times.length && (this.times[drop] ?? 0) < cutoff) drop += 1;
    if (drop > 0) {
      this.times.splice(0, drop);
      for (const values of this.values) values.splice(0, drop);
    }
  }

  /** The data as uPlot wants it. */
  data(): [number[], ...number[][]] {
    return [this.times, ...this.values];
  }

  get length(): number {
    return this.times.length;
  }
}

/** The per-interval increase of a counter series (`finished` per sample → throughput). */
export function rates(times: readonly number[], counter: readonly number[]): number[] {
  return counter.map((value, index) => {
    if (index === 0) return 0;
    const seconds = (times[index] ?? 0) - (times[index - 1] ?? 0);
    const delta = value - (counter[index - 1] ?? 0);
    return seconds > 0 && delta > 0 ? delta / seconds : 0;
  });
}
