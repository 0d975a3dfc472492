import { type TaskSpec, TaskSpecSchema } from "@flotilla/protocol";
import { describe, expect, it } from "vitest";
import { backoffMs, DEFAULT_FAULT_ATTEMPTS, maxAttempts, retryDecision } from "./retry-policy.js";

function spec(retry?: TaskSpec["retry"]): TaskSpec {
  return TaskSpecSchema.parse({ kind: "exec", argv: ["true"], ...(retry ? { retry } : {}) });
}

/** A random source that must not be asked. */
const noRandom = (): number => {
  throw new Error("random was called");
};

describe("retryDecision", () => {
  it("retries a node fault with backoff up to three attempts by default, then dead-letters", () => {
    const task = spec();
    expect(retryDecision(task, 1, { kind: "node_fault" }, () => 0)).toEqual({
      action: "retry",
      backoffMs: 100,
    });
    expect(retryDecision(task, 2, { kind: "node_fault" }, () => 1)).toEqual({
      action: "retry",
      backoffMs: 400,
    });
    expect(retryDecision(task, DEFAULT_FAULT_ATTEMPTS, { kind: "node_fault" }, noRandom)).toEqual({
      action: "dead_letter",
    });
  });

  it("requeues a lost lease at once, without asking for chance, until the last attempt", () => {
    const task = spec({ maxAttempts: 2 });
    expect(retryDecision(task, 1, { kind: "lease_lost" }, noRandom)).toEqual({
      action: "retry",
      backoffMs: 0,
    });
    expect(retryDecision(task, 2, { kind: "lease_lost" }, noRandom)).toEqual({ action: "dead_letter" });
    // A task that never ran (attempt 0) is requeued too.
    expect(retryDecision(spec(), 0, { kind: "lease_lost" }, noRandom).action).toBe("retry");
  });

  it("keeps a command's own failure as its result unless its exit code is listed", () => {
    const plain = spec();
    expect(retryDecision(plain, 1, { kind: "exit", exitCode: 1 }, noRandom)).toEqual({ action: "final" });
    const listed = spec({ maxAttempts: 3, retryOn: [75] });
    expect(retryDecision(listed, 1, { kind: "exit", exitCode: 1 }, noRandom)).toEqual({ action: "final" });
    expect(retryDecision(listed, 1, { kind: "exit", exitCode: null }, noRandom)).toEqual({ action: "final" });
    expect(retryDecision(listed, 1, { kind: "exit", exitCode: 75 }, () => 0.5).action).toBe("retry");
    expect(retryDecision(listed, 3, { kind: "exit", exitCode: 75 }, noRandom)).toEqual({
      action: "dead_letter",
    });
  });

  it("gives a listed exit code one attempt when the task sets no maximum", () => {
    const task = spec({ maxAttempts: 1, retryOn: [75] });
    expect(retryDecision(task, 1, { kind: "exit", exitCode: 75 }, noRandom)).toEqual({
      action: "dead_letter",
    });
    expect(maxAttempts(spec(), false)).toBe(1);
    expect(maxAttempts(spec(), true)).toBe(DEFAULT_FAULT_ATTEMPTS);
  });
});

describe("backoffMs", () => {
  it("doubles per attempt within [half, whole] of the exponential, capped", () => {
    const task = spec({ maxAttempts: 10, backoffMs: 100, maxBackoffMs: 1000 });
    for (let attempt = 1; attempt <= 8; attempt += 1) {
      const exponential = Math.min(1000, 100 * 2 ** (attempt - 1));
      for (const chance of [0, 0.25, 0.5, 0.999]) {
        const wait = backoffMs(task, attempt, () => chance);
        expect(wait).toBeGreaterThanOrEqual(exponential / 2);
        expect(wait).toBeLessThanOrEqual(exponential);
      }
    }
    expect(backoffMs(task, 8, () => 1)).toBe(1000);
  });
});
