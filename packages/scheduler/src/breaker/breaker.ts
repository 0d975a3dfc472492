import type { BreakerStateName } from "../types.js";

/** Exponential backoff for reopening: `initialMs × multiplier^(reopens)`, capped at `maxMs`. */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  multiplier: number;
  /**
   * A half-open probe whose outcome is not recorded within this time counts as failed (the breaker reopens
   * with the next backoff), so a lost probe cannot hold the breaker half-open forever. Absent: no limit.
   */
  probeTimeoutMs?: number;
}

/** Default backoff: 5 s, doubling, at most 5 min. */
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 5_000, maxMs: 300_000, multiplier: 2 };

/**
 * The breaker's state machine as a discriminated union.
 * - closed: calls flow; failures are counted by the policy.
 * - open: no calls until `retryAt`; `attempt` counts consecutive failed probes (drives the backoff).
 * - half_open: exactly one probe may run; its result closes or reopens the breaker.
 */
export type BreakerState =
  | { kind: "closed" }
  | { kind: "open"; openedAt: number; retryAt: number; attempt: number }
  | { kind: "half_open"; attempt: number; probeInFlight: boolean; probeStartedAt?: number };

/** Emitted on every transition. */
export interface BreakerStateChange {
  from: BreakerStateName;
  to: BreakerStateName;
  at: number;
}

/** A listener for {@link BreakerStateChange}; returns nothing. */
export type BreakerListener = (change: BreakerStateChange) => void;

/**
 * What the coordinator's breaker registry talks to, whatever the failure policy.
 *
 * Protocol: before sending work to a node call {@link tryAcquireProbe} (or {@link canRun} to only look);
 * when it returns true the call may go ahead, and its outcome must be reported with {@link recordSuccess} or
 * {@link recordFailure}. In half-open exactly one caller gets true until that probe's outcome is recorded.
 */
export interface CircuitBreaker {
  readonly state: BreakerStateName;
  /** Whether a call would be allowed at `now`, without changing anything. */
  canRun(now: number): boolean;
  /** Admits a call at `now`: true in closed; in open after the backoff (moving to half-open) or in half-open, true only for the single probe. */
  tryAcquireProbe(now: number): boolean;
  recordSuccess(now: number): void;
  recordFailure(now: number): void;
  /** Subscribes to transitions; returns the unsubscribe function. */
  onStateChange(listener: BreakerListener): () => void;
  toJSON(): unknown;
}

/** Names a state for the wire and for `NodeView.breaker`. */
export function stateName(state: BreakerState): BreakerStateName {
  return state.kind;
}

/**
 * The state machine common to every policy; a policy decides only when a closed breaker trips
 * ({@link onClosedSuccess}/{@link onClosedFailure}) and what it remembers while closed.
 */
export abstract class BreakerCore implements CircuitBreaker {
  protected breakerState: BreakerState = { kind: "closed" };
  protected readonly backoff: BackoffOptions;
  readonly #listeners = new Set<BreakerListener>();

  protected constructor(backoff: Partial<BackoffOptions> | undefined) {
    this.backoff = { ...DEFAULT_BACKOFF, ...backoff };
    const { initialMs, maxMs, multiplier } = this.backoff;
    if (!(initialMs >= 0) || !(maxMs >= initialMs) || !(multiplier >= 1)) {
      throw new RangeError("backoff needs 0 <= initialMs <= maxMs and multiplier >= 1");
    }
    if (this.backoff.probeTimeoutMs !== undefined && !(this.backoff.probeTimeoutMs > 0)) {
      throw new RangeError("probeTimeoutMs must be > 0");
    }
  }

  get state(): BreakerStateName {
    return this.breakerState.kind;
  }

  /** The full internal state (for inspection). */
  get snapshot(): Readonly<BreakerState> {
    return this.breakerState;
  }

  canRun(now: number): boolean {
    const state = this.breakerState;
    if (state.kind === "closed") return true;
    if (state.kind === "open") return now >= state.retryAt;
    // An expired probe reopens the breaker on the next acquire, with a delay, so nothing may run now.
    return !state.probeInFlight;
  }

  tryAcquireProbe(now: number): boolean {
    this.#expireLostProbe(now);
    const state = this.breakerState;
    if (state.kind === "closed") return true;
    if (state.kind === "open") {
      if (now < state.retryAt) return false;
      this.transition(
        { kind: "half_open", attempt: state.attempt, probeInFlight: true, probeStartedAt: now },
        now,
      );
      return true;
    }
    if (state.probeInFlight) return false;
    this.breakerState = { ...state, probeInFlight: true, probeStartedAt: now };
    return true;
  }

  recordSuccess(now: number): void {
    const state = this.breakerState;
    if (state.kind === "half_open") {
      this.resetWindow();
      this.transition({ kind: "closed" }, now);
    } else if (state.kind === "closed") {
      this.onClosedSuccess(now);
    }
  }

  recordFailure(now: number): void {
    const state = this.breakerState;
    if (state.kind === "half_open") {
      this.open(now, state.attempt + 1);
    } else if (state.kind === "closed" && this.onClosedFailure(now)) {
      this.open(now, 0);
    }
  }

  onStateChange(listener: BreakerListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  abstract toJSON(): unknown;

  #expireLostProbe(now: number): void {
    const state = this.breakerState;
    const timeout = this.backoff.probeTimeoutMs;
    if (state.kind !== "half_open" || !state.probeInFlight || timeout === undefined) return;
    if (now - (state.probeStartedAt ?? now) >= timeout) this.open(now, state.attempt + 1);
  }

  /** Records a success while closed. */
  protected abstract onClosedSuccess(now: number): void;
  /** Records a failure while closed; true when the breaker must open. */
  protected abstract onClosedFailure(now: number): boolean;
  /** Forgets what was counted while closed. */
  protected abstract resetWindow(): void;

  /** The delay before the `attempt`-th retry. */
  protected delayFor(attempt: number): number {
    const { initialMs, maxMs, multiplier } = this.backoff;
    return Math.min(maxMs, initialMs * multiplier ** attempt);
  }

  protected open(now: number, attempt: number): void {
    this.resetWindow();
    this.transition({ kind: "open", openedAt: now, retryAt: now + this.delayFor(attempt), attempt }, now);
  }

  protected transition(next: BreakerState, now: number): void {
    const from = this.breakerState.kind;
    this.breakerState = next;
    if (from === next.kind) return;
    const change: BreakerStateChange = { from, to: next.kind, at: now };
    for (const listener of [...this.#listeners]) listener(change);
  }
}
