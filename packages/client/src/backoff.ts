/** How long to wait between reconnect attempts. */
export interface BackoffOptions {
  /** The first delay's upper bound, in ms. */
  baseMs: number;
  /** No delay is longer than this, in ms. */
  maxMs: number;
}

/**
 * Exponential backoff with full jitter: a uniform pick in `[0, min(maxMs, baseMs * 2^attempt))`. Jitter
 * keeps a crowd of clients from reconnecting in lockstep after a coordinator restart.
 *
 * @param attempt 0 for the first retry.
 * @param random a uniform source in [0, 1), injected so tests are deterministic.
 */
export function fullJitterDelay(attempt: number, options: BackoffOptions, random: () => number): number {
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
