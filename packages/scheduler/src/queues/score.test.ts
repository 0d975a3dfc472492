import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import type { Priority } from "../types.js";
import { DEFAULT_QUEUE_SCORE_CONFIG, queueScore } from "./score.js";

const T0 = 1_763_000_000_000;

describe("queueScore", () => {
  test.prop(
    [
      fc.integer({ min: 0, max: 10 ** 9 }),
      fc.integer({ min: 0, max: 10 ** 9 }),
      fc.constantFrom<Priority>("high", "normal", "low"),
      fc.option(fc.integer({ min: 0, max: 10 ** 9 }), { nil: undefined }),
    ],
    { numRuns: 300 },
  )("every critical task scores below every other task", (criticalAt, otherAt, priority, deadline) => {
    const critical = queueScore({ priority: "critical", enqueuedAt: T0 + criticalAt });
    const other = queueScore({
      priority,
      enqueuedAt: T0 + otherAt,
      ...(deadline === undefined ? {} : { deadlineAt: T0 + deadline, estimatedMs: 1000 }),
    });
    expect(critical).toBeLessThan(other);
  });

  it("ages: a low task is overtaken only by higher work queued within its delay", () => {
    const low = queueScore({ priority: "low", enqueuedAt: T0 });
    const { delayMs } = DEFAULT_QUEUE_SCORE_CONFIG;
    expect(queueScore({ priority: "high", enqueuedAt: T0 + delayMs.low - 1 })).toBeLessThan(low);
    expect(queueScore({ priority: "high", enqueuedAt: T0 + delayMs.low + 1 })).toBeGreaterThan(low);
    expect(queueScore({ priority: "normal", enqueuedAt: T0 })).toBeLessThan(low);
  });

  it("orders deadline tasks by latest start (EDF)", () => {
    const soon = queueScore({ priority: "low", enqueuedAt: T0, deadlineAt: T0 + 5000, estimatedMs: 1000 });
    const later = queueScore({ priority: "high", enqueuedAt: T0, deadlineAt: T0 + 9000, estimatedMs: 1000 });
    expect(soon).toBe(T0 + 4000);
    expect(later).toBe(T0);
    expect(queueScore({ priority: "normal", enqueuedAt: T0, deadlineAt: T0 + 60_000 })).toBe(T0 + 10_000);
  });
});
