/**
 * Fleet metrics: how fair, balanced and busy the fleet is. Plain functions over numbers so the
 * coordinator, the simulator and dashboards compute them the same way.
 */

/**
 * Jain's fairness index, `(Σx)² / (n Σx²)`: 1 when all values are equal, `1/n` when one takes everything.
 * For weighted fairness pass throughput divided by weight. 1 for an empty or all-zero input.
 */
export function jainIndex(values: readonly number[]): number {
  let sum = 0;
  let sumSquares = 0;
  for (const value of values) {
    sum += value;
    sumSquares += value * value;
  }
  return sumSquares === 0 ? 1 : (sum * sum) / (values.length * sumSquares);
}

function mean(values: readonly number[]): number {
  let sum = 0;
  for (const value of values) sum += value;
  return values.length === 0 ? 0 : sum / values.length;
}

/** Population variance of per-node loads. */
export function loadVariance(values: readonly number[]): number {
  const average = mean(values);
  let sum = 0;
  for (const value of values) sum += (value - average) ** 2;
  return values.length === 0 ? 0 : sum / values.length;
}

/** Standard deviation over mean (0 when the mean is 0): load imbalance independent of scale. */
export function coefficientOfVariation(values: readonly number[]): number {
  const average = mean(values);
  return average === 0 ? 0 : Math.sqrt(loadVariance(values)) / average;
}

/** Busy slot-time over available slot-time, in [0, 1]. */
export function utilisation(busySlotMs: number, slots: number, elapsedMs: number): number {
  const available = slots * elapsedMs;
  return available <= 0 ? 0 : Math.min(1, busySlotMs / available);
}

/** Migrations (steals and rebalancing moves) per dispatched task. */
export function migrationRate(migrations: number, dispatched: number): number {
  return dispatched === 0 ? 0 : migrations / dispatched;
}

/** Share of deadline tasks that finished by their deadline (1 when there were none). */
export function deadlineHitRatio(finished: readonly { finishedAt: number; deadlineAt: number }[]): number {
  if (finished.length === 0) return 1;
  let hits = 0;
  for (const task of finished) if (task.finishedAt <= task.deadlineAt) hits++;
  return hits / finished.length;
}

/** Serialised {@link LatencyHistogram}. */
export interface LatencyHistogramJSON {
  /** Relative bucket width: each bucket's upper bound is `(1 + precision)` times its lower bound. */
  precision: number;
  count: number;
  sum: number;
  min: number;
  max: number;
  /** Sparse buckets: `[index, count]`. */
  buckets: [number, number][];
}

/**
 * A log-bucketed latency histogram: bucket `i` holds values in `[(1+p)^(i-1), (1+p)^i)` ms (bucket 0 holds
 * values below 1 ms), so percentiles are accurate to the precision `p` (default 2%) in constant memory per
 * decade and O(1) per record.
 */
export class LatencyHistogram {
  readonly precision: number;
  readonly #logBase: number;
  readonly #buckets = new Map<number, number>();
  #count = 0;
  #sum = 0;
  #min = Number.POSITIVE_INFINITY;
  #max = Number.NEGATIVE_INFINITY;

  constructor(precision = 0.02) {
    if (!(precision > 0 && precision < 1)) throw new RangeError("precision must be in (0, 1)");
    this.precision = precision;
    this.#logBase = Math.log1p(precision);
  }

  /** Restores a histogram saved with {@link toJSON}. */
  static fromJSON(json: LatencyHistogramJSON): LatencyHistogram {
    const histogram = new LatencyHistogram(json.precision);
    for (const [index, count] of json.buckets) histogram.#buckets.set(index, count);
    histogram.#count = json.count;
    histogram.#sum = json.sum;
    histogram.#min = json.min;
    histogram.#max = json.max;
    return histogram;
  }

  get count(): number {
    return this.#count;
  }

  /** Mean of recorded values (0 when empty). */
  get mean(): number {
    return this.#count === 0 ? 0 : this.#sum / this.#count;
  }

  /** Records one latency in ms (negative values count as 0). */
  record(ms: number): void {
    const value = Math.max(0, ms);
    const index = value < 1 ? 0 : Math.floor(Math.log(value) / this.#logBase) + 1;
    this.#buckets.set(index, (this.#buckets.get(index) ?? 0) + 1);
    this.#count++;
    this.#sum += value;
    if (value < this.#min) this.#min = value;
    if (value > this.#max) this.#max = value;
  }

  /** The `p`-th percentile (p in [0, 100]), within the precision; 0 when empty. */
  percentile(p: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.max(1, Math.ceil((Math.min(100, Math.max(0, p)) / 100) * this.#count));
    const indices = [...this.#buckets.keys()].sort((a, b) => a - b);
    let seen = 0;
    for (const index of indices) {
      seen += this.#buckets.get(index) as number;
      if (seen >= rank) {
        const upper = index === 0 ? 1 : (1 + this.precision) ** index;
        return Math.min(this.#max, Math.max(this.#min, upper));
      }
    }
    return this.#max;
  }

  toJSON(): LatencyHistogramJSON {
    return {
      precision: this.precision,
      count: this.#count,
      sum: this.#sum,
      min: this.#min,
      max: this.#max,
      buckets: [...this.#buckets.entries()].sort((a, b) => a[0] - b[0]),
    };
  }
}
