import { describe, expect, it } from "vitest";
import { TokenBucket } from "./token-bucket.js";

describe("TokenBucket", () => {
  it("allows a full burst at once, then refuses until time refills it", () => {
    let now = 1000;
    const bucket = new TokenBucket(10, 3, () => now);
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
    now += 99;
    expect(bucket.take()).toBe(false);
    now += 1; // 100 ms at 10/s is one token
    expect(bucket.take()).toBe(true);
    expect(bucket.take()).toBe(false);
  });

  it("never holds more than its burst however long it was idle", () => {
    let now = 0;
    const bucket = new TokenBucket(100, 5, () => now);
    for (let i = 0; i < 5; i += 1) bucket.take();
    now += 60_000;
    let allowed = 0;
    while (bucket.take()) allowed += 1;
    expect(allowed).toBe(5);
  });

  it("keeps the average rate over a long run", () => {
    let now = 0;
    const bucket = new TokenBucket(50, 10, () => now);
    let allowed = 0;
    for (let ms = 0; ms < 10_000; ms += 1) {
      now = ms;
      while (bucket.take()) allowed += 1;
    }
    // 10 s at 50/s plus the first burst, give or take the token in progress.
    expect(allowed).toBeGreaterThanOrEqual(509);
    expect(allowed).toBeLessThanOrEqual(510);
  });

  it("allows everything at rate 0 (the limit is off)", () => {
    const bucket = new TokenBucket(0, 0, () => 0);
    for (let i = 0; i < 1000; i += 1) expect(bucket.take()).toBe(true);
  });
});
