import { fc, test } from "@fast-check/vitest";
import { expect } from "vitest";
import { fullJitterDelay } from "./backoff.js";

test.prop([fc.nat(100), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })])(
  "stays within [0, min(max, base * 2^attempt))",
  (attempt, random) => {
    const delay = fullJitterDelay(attempt, { baseMs: 100, maxMs: 5_000 }, () => random);
    expect(delay).toBeGreaterThanOrEqual(0);
    expect(delay).toBeLessThan(Math.min(5_000, 100 * 2 ** attempt));
  },
);
