import { describe, expect, it } from "vitest";
import * as scheduler from "./index.js";

describe("public API", () => {
  it("exports what the coordinator relies on", () => {
    const names = [
      "checkEligibility",
      "eligibleNodes",
      "describeUnmet",
      "inferRequirements",
      "DEFAULT_INFERENCE_RULES",
      "createStrategy",
      "queueScore",
      "planSteal",
      "planRebalance",
      "ConsecutiveBreaker",
      "CountBreaker",
      "jainIndex",
      "coefficientOfVariation",
      "loadVariance",
      "utilisation",
      "LatencyHistogram",
      "migrationRate",
      "deadlineHitRatio",
      "Ewma",
      "BinaryHeap",
      "MultilevelQueue",
      "EdfQueue",
      "WeightedFairQueue",
      "VruntimeQueue",
      "simulate",
    ];
    for (const name of names) expect(scheduler, name).toHaveProperty(name);
    expect(scheduler.PACKAGE_NAME).toBe("@flotilla/scheduler");
  });
});
