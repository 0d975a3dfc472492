import type { RandomSource } from "./types.js";

/**
 * A small seeded generator (mulberry32). Tests, the simulator and the bench use it so that every run with
 * the same seed makes the same decisions; production callers may pass `Math.random` instead.
 */
export function seededRandom(seed: number): RandomSource {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An exponentially distributed sample with the given mean. */
export function sampleExponential(random: RandomSource, mean: number): number {
  return -Math.log(1 - random()) * mean;
}

/** A standard normal sample (Box–Muller). */
export function sampleNormal(random: RandomSource): number {
  const u = 1 - random();
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** A log-normal sample whose underlying normal has parameters `mu` and `sigma`. */
export function sampleLogNormal(random: RandomSource, mu: number, sigma: number): number {
  return Math.exp(mu + sigma * sampleNormal(random));
}
