import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import {
  type AlertThresholds,
  checkAlertThresholds,
  DEFAULT_ALERT_THRESHOLDS,
  evaluateAlerts,
  type FleetObservation,
  type Reading,
  type RuleState,
  readingsOf,
  stabilityScore,
} from "./alert-rules.js";

const thresholds: AlertThresholds = { ...DEFAULT_ALERT_THRESHOLDS, fireAfterMs: 1000, resolveAfterMs: 2000 };

/** Runs readings through the evaluator at the given times, returning every change and the last state. */
function run(steps: readonly { at: number; readings: Reading[] }[], t: AlertThresholds = thresholds) {
  let states = new Map<string, RuleState>();
  const log: string[] = [];
  for (const step of steps) {
    const evaluation = evaluateAlerts(states, step.readings, t, step.at);
    for (const alert of evaluation.fired) log.push(`${step.at} fired ${alert.rule}:${alert.subject}`);
    for (const alert of evaluation.resolved) log.push(`${step.at} resolved ${alert.rule}:${alert.subject}`);
    states = evaluation.states;
  }
  return { log, states };
}

const size = (value: number): Reading[] => [{ rule: "cluster_size", subject: "fleet", value }];
const cpu = (node: string, value: number): Reading => ({ rule: "cpu_load", subject: node, value });

describe("readingsOf", () => {
  it("reads each rule that has a figure, and leaves out those that do not", () => {
    const observation: FleetObservation = {
      healthyNodes: 2,
      nodes: [
        { id: "a", loadPerCore: 0.5, memoryUsed: 0.3, heartbeatLatencyMs: 4 },
        { id: "b", loadPerCore: 0.9 },
      ],
      startLatencyMs: 12,
      lastHour: { finished: 5, faults: 0 },
      oldestWaitMs: 0,
    };
    const readings = readingsOf(observation, thresholds);
    expect(readings.map((r) => `${r.rule}:${r.subject}`).sort()).toEqual(
      [
        "cluster_size:fleet",
        "cpu_load:a",
        "memory:a",
        "heartbeat_latency:a",
        "cpu_load:b",
        "start_latency:fleet",
        "queue_wait:fleet",
      ].sort(),
    );
  });

  it("judges stability only over enough runs", () => {
    const few = readingsOf({ healthyNodes: 3, nodes: [], lastHour: { finished: 1, faults: 5 } }, thresholds);
    expect(few.some((r) => r.rule === "stability")).toBe(false);
    const enough = readingsOf(
      { healthyNodes: 3, nodes: [], lastHour: { finished: 18, faults: 2 } },
      thresholds,
    );
    expect(enough.find((r) => r.rule === "stability")?.value).toBeCloseTo(0.9);
  });

  it("scores an hour without runs as stable", () => {
    expect(stabilityScore(0, 0)).toBe(1);
    expect(stabilityScore(9, 1)).toBeCloseTo(0.9);
  });
});

describe("evaluateAlerts", () => {
  it("fires once a breach has lasted fireAfterMs, and resolves once clear for resolveAfterMs", () => {
    const { log, states } = run([
      { at: 0, readings: size(2) },
      { at: 500, readings: size(2) },
      { at: 1000, readings: size(2) },
      { at: 1500, readings: size(1) },
      { at: 2000, readings: size(3) },
      { at: 3000, readings: size(3) },
      { at: 4000, readings: size(3) },
    ]);
    expect(log).toEqual(["1000 fired cluster_size:fleet", "4000 resolved cluster_size:fleet"]);
    expect(states.size).toBe(0);
  });

  it("does not fire on a breach shorter than fireAfterMs", () => {
    const { log, states } = run([
      { at: 0, readings: size(2) },
      { at: 900, readings: size(3) },
      { at: 1000, readings: size(2) },
      { at: 1900, readings: size(5) },
    ]);
    expect(log).toEqual([]);
    expect(states.size).toBe(0);
  });

  it("fires above the maximum too, with the maximum as threshold", () => {
    const evaluation = evaluateAlerts(new Map(), size(11), { ...thresholds, fireAfterMs: 0 }, 7);
    expect(evaluation.fired).toEqual([
      expect.objectContaining({ rule: "cluster_size", value: 11, threshold: 10, firedAt: 7 }),
    ]);
    expect(evaluation.fired[0]?.message).toContain("above the maximum");
  });

  it("keeps firing while a reading sits between its threshold and the hysteresis margin", () => {
    // Fires above 0.8; resolves only at or below 0.72.
    const { log } = run([
      { at: 0, readings: [cpu("a", 0.95)] },
      { at: 1000, readings: [cpu("a", 0.95)] },
      { at: 2000, readings: [cpu("a", 0.79)] },
      { at: 5000, readings: [cpu("a", 0.75)] },
      { at: 6000, readings: [cpu("a", 0.7)] },
      { at: 7000, readings: [cpu("a", 0.7)] },
      { at: 8000, readings: [cpu("a", 0.7)] },
    ]);
    expect(log).toEqual(["1000 fired cpu_load:a", "8000 resolved cpu_load:a"]);
  });

  it("resolves an alert whose subject has no reading any more (the node left)", () => {
    const { log } = run([
      { at: 0, readings: [cpu("a", 1)] },
      { at: 1000, readings: [cpu("a", 1)] },
      { at: 2000, readings: [] },
      { at: 4000, readings: [] },
    ]);
    expect(log).toEqual(["1000 fired cpu_load:a", "4000 resolved cpu_load:a"]);
  });

  it("fires stability below its minimum and resolves above the margin", () => {
    const t = { ...thresholds, fireAfterMs: 0, resolveAfterMs: 0 };
    const low = evaluateAlerts(new Map(), [{ rule: "stability", subject: "fleet", value: 0.85 }], t, 1);
    expect(low.fired).toHaveLength(1);
    // 0.905 is above 0.9 but below the margin (0.91): still firing.
    const between = evaluateAlerts(low.states, [{ rule: "stability", subject: "fleet", value: 0.905 }], t, 2);
    expect(between.resolved).toEqual([]);
    const back = evaluateAlerts(between.states, [{ rule: "stability", subject: "fleet", value: 0.95 }], t, 3);
    expect(back.resolved).toEqual([expect.objectContaining({ resolvedAt: 3, firedAt: 1 })]);
  });

  it("keeps a firing alert's value up to date", () => {
    const t = { ...thresholds, fireAfterMs: 0 };
    const fired = evaluateAlerts(new Map(), [cpu("a", 0.9)], t, 0);
    const later = evaluateAlerts(fired.states, [cpu("a", 1.4)], t, 10);
    expect(later.updated).toEqual([expect.objectContaining({ value: 1.4, firedAt: 0 })]);
    expect(later.fired).toEqual([]);
  });

  const readingArb = fc.record({
    rule: fc.constantFrom("cluster_size" as const, "cpu_load" as const, "stability" as const),
    subject: fc.constantFrom("fleet", "a", "b"),
    value: fc.double({ min: 0, max: 12, noNaN: true }),
  });
  const stepsArb = fc.array(
    fc.tuple(fc.integer({ min: 0, max: 3000 }), fc.array(readingArb, { maxLength: 4 })),
    {
      maxLength: 40,
    },
  );

  test.prop([stepsArb])("fires and resolves each rule and subject in turn, never twice in a row", (steps) => {
    let states = new Map<string, RuleState>();
    let now = 0;
    const phase = new Map<string, "firing" | "ok">();
    for (const [gap, readings] of steps) {
      now += gap;
      const evaluation = evaluateAlerts(states, readings, thresholds, now);
      for (const alert of evaluation.fired) {
        const key = `${alert.rule}:${alert.subject}`;
        expect(phase.get(key)).not.toBe("firing");
        phase.set(key, "firing");
        expect(alert.firedAt).toBe(now);
      }
      for (const alert of evaluation.resolved) {
        const key = `${alert.rule}:${alert.subject}`;
        expect(phase.get(key)).toBe("firing");
        phase.set(key, "ok");
        expect(alert.resolvedAt).toBe(now);
        expect(now - alert.firedAt).toBeGreaterThanOrEqual(thresholds.resolveAfterMs);
      }
      states = evaluation.states;
      // What the state says is firing is exactly what has fired and not resolved.
      for (const [key, value] of phase) expect(states.get(key)?.phase === "firing").toBe(value === "firing");
    }
  });

  test.prop([fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 30 })])(
    "with no delays, a cluster_size alert fires exactly while the size is outside [min, max]",
    (sizes) => {
      const t = { ...thresholds, fireAfterMs: 0, resolveAfterMs: 0 };
      let states = new Map<string, RuleState>();
      sizes.forEach((value, at) => {
        states = evaluateAlerts(states, size(value), t, at).states;
        const outside = value < t.minNodes || value > t.maxNodes;
        expect(states.get("cluster_size:fleet")?.phase === "firing").toBe(outside);
      });
    },
  );
});

describe("checkAlertThresholds", () => {
  it("refuses a negative threshold, min above max, and a hysteresis of 1 or more", () => {
    expect(() => checkAlertThresholds({ ...thresholds, memoryUsed: -1 })).toThrow(/alerts.memoryUsed/);
    expect(() => checkAlertThresholds({ ...thresholds, minNodes: 5, maxNodes: 4 })).toThrow(/minNodes/);
    expect(() => checkAlertThresholds({ ...thresholds, hysteresis: 1 })).toThrow(/hysteresis/);
    expect(checkAlertThresholds(thresholds)).toEqual(thresholds);
  });
});
