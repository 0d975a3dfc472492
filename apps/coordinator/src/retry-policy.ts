/**
 * When a failed run is tried again. `retryDecision` is a pure function of the task's spec, the attempt
 * that failed and what kind of failure it was: retry (after a backoff), dead-letter, or keep the failure
 * as the task's result. It owns no state; run reports and the failure detector ask it and write the
 * answer to Redis. Randomness (the backoff's jitter) is a parameter.
 */
import type { TaskSpec } from "@flotilla/protocol";

/** Node faults retry this many attempts in all unless the task says otherwise. */
export const DEFAULT_FAULT_ATTEMPTS = 3;
const DEFAULT_BACKOFF_MS = 200;
const DEFAULT_MAX_BACKOFF_MS = 30_000;

/**
 * Why a run failed:
 * - `node_fault`: the node could not run it (a spawn error): retried up to 3 attempts by default;
 * - `lease_lost`: the node died or restarted without it: as a node fault, but requeued at once;
 * - `exit`: the command failed on its own: retried only when the task lists the exit code in `retryOn`.
 */
export type RunFailure =
  | { readonly kind: "node_fault" }
  | { readonly kind: "lease_lost" }
  | { readonly kind: "exit"; readonly exitCode: number | null };

/** What to do with a failed run. */
export type RetryDecision =
  | { readonly action: "retry"; readonly backoffMs: number }
  | { readonly action: "dead_letter" }
  | { readonly action: "final" };

const FINAL: RetryDecision = { action: "final" };
const DEAD_LETTER: RetryDecision = { action: "dead_letter" };
const AT_ONCE: RetryDecision = { action: "retry", backoffMs: 0 };

/** How many attempts a task gets in all for failures of this kind (node faults 3 by default, else 1). */
export function maxAttempts(spec: TaskSpec, nodeFault: boolean): number {
  return spec.retry?.maxAttempts ?? (nodeFault ? DEFAULT_FAULT_ATTEMPTS : 1);
}

/**
 * Decides what follows the failure of attempt `attempt` (1 for the first run). `random` is a uniform
 * source in [0, 1), called only when a backoff is computed.
 */
export function retryDecision(
  spec: TaskSpec,
  attempt: number,
  failure: RunFailure,
  random: () => number,
): RetryDecision {
  if (failure.kind === "exit") {
    const listed = failure.exitCode !== null && spec.retry?.retryOn?.includes(failure.exitCode) === true;
    if (!listed) return FINAL;
  }
  if (attempt >= maxAttempts(spec, failure.kind !== "exit")) return DEAD_LETTER;
  if (failure.kind === "lease_lost") return AT_ONCE;
  return { action: "retry", backoffMs: backoffMs(spec, attempt, random) };
}

/** Exponential backoff from the task's `retry` settings, with "equal jitter". */
export function backoffMs(spec: TaskSpec, attempt: number, random: () => number): number {
  const base = spec.retry?.backoffMs ?? DEFAULT_BACKOFF_MS;
  const cap = spec.retry?.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS;
  const exponential = Math.min(cap, base * 2 ** Math.max(0, attempt - 1));
  // At least half the backoff, so retries never stampede yet never wait too little.
  return Math.round(exponential / 2 + (exponential / 2) * random());
}
