/** One EWMA step: `previous + alpha × (sample − previous)`; the first sample is taken as is. */
export function ewmaStep(previous: number | undefined, sample: number, alpha: number): number {
  return previous === undefined ? sample : previous + alpha * (sample - previous);
}

/**
 * Exponentially weighted moving averages keyed by name (per-node run times for the performance strategy).
 * `alpha` in (0, 1]: higher reacts faster; the default 0.2 weights roughly the last ten samples.
 */
export class Ewma {
  readonly alpha: number;
  readonly #values = new Map<string, number>();

  constructor(alpha = 0.2) {
    if (!(alpha > 0 && alpha <= 1)) throw new RangeError("alpha must be in (0, 1]");
    this.alpha = alpha;
  }

  /** Adds a sample for `key` and returns the new average. */
  update(key: string, sample: number): number {
    const next = ewmaStep(this.#values.get(key), sample, this.alpha);
    this.#values.set(key, next);
    return next;
  }

  /** The current average for `key`, if any sample was seen. */
  get(key: string): number | undefined {
    return this.#values.get(key);
  }

  /** Every average, for serialisation. */
  toJSON(): Record<string, number> {
    return Object.fromEntries(this.#values);
  }

  /** Restores averages saved with {@link toJSON}. */
  static fromJSON(values: Record<string, number>, alpha = 0.2): Ewma {
    const ewma = new Ewma(alpha);
    for (const [key, value] of Object.entries(values)) ewma.#values.set(key, value);
    return ewma;
  }
}
