import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import type { BreakerStateChange, CircuitBreaker } from "./breaker.js";
import { ConsecutiveBreaker, type ConsecutiveBreakerJSON } from "./consecutive.js";
import { CountBreaker, type CountBreakerJSON } from "./count.js";

const makers: [string, () => CircuitBreaker][] = [
  [
    "consecutive",
    () =>
      new ConsecutiveBreaker({
        threshold: 2,
        backoff: { initialMs: 10, maxMs: 80, multiplier: 2, probeTimeoutMs: 50 },
      }),
  ],
  [
    "count",
    () =>
      new CountBreaker({
        windowSize: 4,
        minimumCalls: 2,
        failureRatio: 0.5,
        backoff: { initialMs: 10, maxMs: 80, multiplier: 2, probeTimeoutMs: 50 },
      }),
  ],
];

type Op = { kind: "acquire" | "success" | "failure" | "wait"; by: number };
const opArb: fc.Arbitrary<Op> = fc.record({
  kind: fc.constantFrom("acquire", "success", "failure", "wait"),
  by: fc.integer({ min: 0, max: 30 }),
});

describe.each(makers)("%s breaker", (_name, make) => {
  test.prop([fc.array(opArb, { maxLength: 200 })], { numRuns: 200 })(
    "never admits two probes in half-open",
    (ops) => {
      const breaker = make();
      let now = 0;
      // Probes admitted since the breaker last entered half-open.
      let probes = 0;
      breaker.onStateChange((change) => {
        if (change.to === "half_open") probes = 0;
      });
      for (const op of ops) {
        if (op.kind === "wait") now += op.by;
        else if (op.kind === "acquire") {
          const admitted = breaker.tryAcquireProbe(now);
          if (admitted && breaker.state === "half_open") probes++;
          expect(probes).toBeLessThanOrEqual(1);
          if (breaker.state === "open") expect(admitted).toBe(false);
        } else if (breaker.state !== "half_open" || probes === 1) {
          // Outcomes are reported only for admitted calls.
          if (op.kind === "success") breaker.recordSuccess(now);
          else breaker.recordFailure(now);
        }
      }
    },
  );

  it("counts a probe whose outcome never comes as failed", () => {
    const breaker = make();
    breaker.recordFailure(0);
    breaker.recordFailure(0);
    expect(breaker.tryAcquireProbe(10)).toBe(true);
    expect(breaker.tryAcquireProbe(59)).toBe(false);
    expect(breaker.tryAcquireProbe(60)).toBe(false);
    expect(breaker.state).toBe("open");
    expect(breaker.tryAcquireProbe(80)).toBe(true);
  });

  it("opens, backs off, probes once and closes", () => {
    const breaker = make();
    const changes: BreakerStateChange[] = [];
    const stop = breaker.onStateChange((change) => changes.push(change));
    breaker.recordFailure(0);
    breaker.recordFailure(1);
    expect(breaker.state).toBe("open");
    expect(breaker.canRun(5)).toBe(false);
    expect(breaker.tryAcquireProbe(5)).toBe(false);
    expect(breaker.canRun(11)).toBe(true);
    expect(breaker.tryAcquireProbe(11)).toBe(true);
    expect(breaker.state).toBe("half_open");
    expect(breaker.canRun(11)).toBe(false);
    expect(breaker.tryAcquireProbe(12)).toBe(false);
    breaker.recordFailure(13);
    expect(breaker.state).toBe("open");
    expect(breaker.tryAcquireProbe(13 + 19)).toBe(false);
    expect(breaker.tryAcquireProbe(13 + 20)).toBe(true);
    breaker.recordSuccess(40);
    expect(breaker.state).toBe("closed");
    stop();
    breaker.recordFailure(41);
    breaker.recordFailure(42);
    expect(changes.map((change) => `${change.from}>${change.to}@${change.at}`)).toEqual([
      "closed>open@1",
      "open>half_open@11",
      "half_open>open@13",
      "open>half_open@33",
      "half_open>closed@40",
    ]);
  });
});

describe("serialisation and options", () => {
  it("round-trips a consecutive breaker", () => {
    const breaker = new ConsecutiveBreaker({ threshold: 3 });
    breaker.recordFailure(0);
    breaker.recordFailure(1);
    const json = JSON.parse(JSON.stringify(breaker)) as ConsecutiveBreakerJSON;
    const restored = ConsecutiveBreaker.fromJSON(json);
    expect(restored.toJSON()).toEqual(breaker.toJSON());
    restored.recordFailure(2);
    expect(restored.state).toBe("open");
    expect(ConsecutiveBreaker.fromJSON(JSON.parse(JSON.stringify(restored))).snapshot).toEqual(
      restored.snapshot,
    );
  });

  it("round-trips a count breaker including its window", () => {
    const breaker = new CountBreaker({ windowSize: 5, minimumCalls: 4, failureRatio: 0.5 });
    for (const failed of [true, false, false, false, true, true]) {
      if (failed) breaker.recordFailure(0);
      else breaker.recordSuccess(0);
    }
    expect(breaker.state).toBe("closed");
    const json = JSON.parse(JSON.stringify(breaker)) as CountBreakerJSON;
    expect(json.window).toEqual([false, false, false, true, true]);
    const restored = CountBreaker.fromJSON(json);
    restored.recordFailure(1);
    expect(restored.state).toBe("open");
  });

  it("needs minimum calls before a count breaker opens", () => {
    const breaker = new CountBreaker({ windowSize: 10, minimumCalls: 5, failureRatio: 0.5 });
    for (let i = 0; i < 4; i++) breaker.recordFailure(i);
    expect(breaker.state).toBe("closed");
    breaker.recordFailure(5);
    expect(breaker.state).toBe("open");
  });

  it("validates options", () => {
    expect(() => new ConsecutiveBreaker({ threshold: 0 })).toThrow(RangeError);
    expect(() => new CountBreaker({ windowSize: 3, minimumCalls: 4 })).toThrow(RangeError);
    expect(() => new CountBreaker({ failureRatio: 0 })).toThrow(RangeError);
    expect(() => new ConsecutiveBreaker({ backoff: { initialMs: 10, maxMs: 5 } })).toThrow(RangeError);
  });
});
