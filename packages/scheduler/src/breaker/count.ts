import { type BackoffOptions, BreakerCore, type BreakerState } from "./breaker.js";

/** Options of {@link CountBreaker}. */
export interface CountBreakerOptions {
  /** Number of most recent calls considered (default 20). */
  windowSize?: number;
  /** Calls the window must hold before the breaker may open (default 10). */
  minimumCalls?: number;
  /** Failure ratio in the window, in (0, 1], that opens the breaker (default 0.5). */
  failureRatio?: number;
  backoff?: Partial<BackoffOptions>;
}

/** Serialised form of a {@link CountBreaker}. */
export interface CountBreakerJSON {
  kind: "count";
  windowSize: number;
  minimumCalls: number;
  failureRatio: number;
  backoff: BackoffOptions;
  state: BreakerState;
  /** Outcomes in the window, oldest first (true = failure). */
  window: boolean[];
}

/**
 * Opens when, among the last `windowSize` calls, the failure ratio reaches `failureRatio` and at least
 * `minimumCalls` calls were seen, so that one early failure on a quiet node does not open it.
 */
export class CountBreaker extends BreakerCore {
  readonly windowSize: number;
  readonly minimumCalls: number;
  readonly failureRatio: number;
  /** Ring buffer of outcomes (1 = failure). */
  #outcomes: Uint8Array;
  #next = 0;
  #filled = 0;
  #failures = 0;

  constructor(options: CountBreakerOptions = {}) {
    super(options.backoff);
    this.windowSize = options.windowSize ?? 20;
    this.minimumCalls = options.minimumCalls ?? Math.min(10, this.windowSize);
    this.failureRatio = options.failureRatio ?? 0.5;
    if (!Number.isInteger(this.windowSize) || this.windowSize < 1)
      throw new RangeError("windowSize must be >= 1");
    if (
      !Number.isInteger(this.minimumCalls) ||
      this.minimumCalls < 1 ||
      this.minimumCalls > this.windowSize
    ) {
      throw new RangeError("minimumCalls must be an integer in [1, windowSize]");
    }
    if (!(this.failureRatio > 0 && this.failureRatio <= 1))
      throw new RangeError("failureRatio must be in (0, 1]");
    this.#outcomes = new Uint8Array(this.windowSize);
  }

  /** Restores a breaker saved with {@link toJSON}. */
  static fromJSON(json: CountBreakerJSON): CountBreaker {
    const breaker = new CountBreaker({
      windowSize: json.windowSize,
      minimumCalls: json.minimumCalls,
      failureRatio: json.failureRatio,
      backoff: json.backoff,
    });
    breaker.breakerState = structuredClone(json.state);
    for (const failed of json.window.slice(-json.windowSize)) breaker.#push(failed);
    return breaker;
  }

  override toJSON(): CountBreakerJSON {
    const window: boolean[] = [];
    for (let i = 0; i < this.#filled; i++) {
      const index = (this.#next - this.#filled + i + this.windowSize) % this.windowSize;
      window.push(this.#outcomes[index] === 1);
    }
    return {
      kind: "count",
      windowSize: this.windowSize,
      minimumCalls: this.minimumCalls,
      failureRatio: this.failureRatio,
      backoff: { ...this.backoff },
      state: structuredClone(this.breakerState),
      window,
    };
  }

  protected override onClosedSuccess(): void {
    this.#push(false);
  }

  protected override onClosedFailure(): boolean {
    this.#push(true);
    return this.#filled >= this.minimumCalls && this.#failures >= this.failureRatio * this.#filled;
  }

  protected override resetWindow(): void {
    this.#outcomes.fill(0);
    this.#next = 0;
    this.#filled = 0;
    this.#failures = 0;
  }

  #push(failed: boolean): void {
    if (this.#filled === this.windowSize) this.#failures -= this.#outcomes[this.#next] as number;
    else this.#filled++;
    this.#outcomes[this.#next] = failed ? 1 : 0;
    if (failed) this.#failures++;
    this.#next = (this.#next + 1) % this.windowSize;
  }
}
