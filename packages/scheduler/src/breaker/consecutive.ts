import { type BackoffOptions, BreakerCore, type BreakerState } from "./breaker.js";

/** Options of {@link ConsecutiveBreaker}. */
export interface ConsecutiveBreakerOptions {
  /** Consecutive failures that open the breaker (default 5). */
  threshold?: number;
  backoff?: Partial<BackoffOptions>;
}

/** Serialised form of a {@link ConsecutiveBreaker}. */
export interface ConsecutiveBreakerJSON {
  kind: "consecutive";
  threshold: number;
  backoff: BackoffOptions;
  state: BreakerState;
  consecutiveFailures: number;
}

/** Opens after `threshold` failures in a row; any success while closed resets the count. */
export class ConsecutiveBreaker extends BreakerCore {
  readonly threshold: number;
  #consecutiveFailures = 0;

  constructor(options: ConsecutiveBreakerOptions = {}) {
    super(options.backoff);
    this.threshold = options.threshold ?? 5;
    if (!Number.isInteger(this.threshold) || this.threshold < 1) {
      throw new RangeError("threshold must be an integer >= 1");
    }
  }

  /** Restores a breaker saved with {@link toJSON}. */
  static fromJSON(json: ConsecutiveBreakerJSON): ConsecutiveBreaker {
    const breaker = new ConsecutiveBreaker({ threshold: json.threshold, backoff: json.backoff });
    breaker.breakerState = structuredClone(json.state);
    breaker.#consecutiveFailures = json.consecutiveFailures;
    return breaker;
  }

  override toJSON(): ConsecutiveBreakerJSON {
    return {
      kind: "consecutive",
      threshold: this.threshold,
      backoff: { ...this.backoff },
      state: structuredClone(this.breakerState),
      consecutiveFailures: this.#consecutiveFailures,
    };
  }

  protected override onClosedSuccess(): void {
    this.#consecutiveFailures = 0;
  }

  protected override onClosedFailure(): boolean {
    this.#consecutiveFailures++;
    return this.#consecutiveFailures >= this.threshold;
  }

  protected override resetWindow(): void {
    this.#consecutiveFailures = 0;
  }
}
