import { describe, expect, it } from "vitest";
import { Ewma, ewmaStep } from "./ewma.js";
import {
  coefficientOfVariation,
  deadlineHitRatio,
  jainIndex,
  LatencyHistogram,
  loadVariance,
  migrationRate,
  utilisation,
} from "./metrics.js";

describe("fleet metrics", () => {
  it("computes fairness, spread and rates", () => {
    expect(jainIndex([5, 5, 5, 5])).toBe(1);
    expect(jainIndex([1, 0, 0, 0])).toBe(0.25);
    expect(jainIndex([])).toBe(1);
    expect(loadVariance([1, 3])).toBe(1);
    expect(coefficientOfVariation([1, 3])).toBe(0.5);
    expect(coefficientOfVariation([0, 0])).toBe(0);
    expect(utilisation(50, 2, 100)).toBe(0.25);
    expect(utilisation(1, 0, 0)).toBe(0);
    expect(migrationRate(3, 12)).toBe(0.25);
    expect(migrationRate(3, 0)).toBe(0);
    expect(
      deadlineHitRatio([
        { finishedAt: 1, deadlineAt: 2 },
        { finishedAt: 3, deadlineAt: 2 },
      ]),
    ).toBe(0.5);
    expect(deadlineHitRatio([])).toBe(1);
  });

  it("reports latency percentiles within the histogram's precision", () => {
    const histogram = new LatencyHistogram(0.01);
    for (let ms = 1; ms <= 1000; ms++) histogram.record(ms);
    histogram.record(0.2);
    expect(histogram.count).toBe(1001);
    expect(histogram.percentile(50)).toBeGreaterThan(495);
    expect(histogram.percentile(50)).toBeLessThan(510);
    expect(histogram.percentile(99)).toBeGreaterThan(985);
    expect(histogram.percentile(100)).toBe(1000);
    expect(histogram.percentile(0)).toBe(1);
    const restored = LatencyHistogram.fromJSON(JSON.parse(JSON.stringify(histogram)));
    expect(restored.percentile(90)).toBe(histogram.percentile(90));
    expect(restored.mean).toBeCloseTo(histogram.mean);
    expect(new LatencyHistogram().percentile(50)).toBe(0);
    expect(() => new LatencyHistogram(0)).toThrow(RangeError);
  });

  it("smooths run times per key", () => {
    expect(ewmaStep(undefined, 10, 0.5)).toBe(10);
    expect(ewmaStep(10, 20, 0.5)).toBe(15);
    const ewma = new Ewma(0.5);
    ewma.update("a", 100);
    expect(ewma.update("a", 200)).toBe(150);
    expect(ewma.get("b")).toBeUndefined();
    expect(Ewma.fromJSON(ewma.toJSON(), 0.5).get("a")).toBe(150);
    expect(() => new Ewma(0)).toThrow(RangeError);
  });
});
