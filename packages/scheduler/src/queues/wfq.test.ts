import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { jainIndex } from "../metrics.js";
import { VruntimeQueue } from "./cfs.js";
import { WeightedFairQueue } from "./wfq.js";

describe("WeightedFairQueue", () => {
  test.prop([fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 2, maxLength: 5 })], { numRuns: 60 })(
    "backlogged shares converge to the weights",
    (weights) => {
      const queue = new WeightedFairQueue<number>({
        weights: Object.fromEntries(weights.map((weight, i) => [`s${i}`, weight])),
      });
      const served = weights.map(() => 0);
      weights.forEach((_, i) => {
        for (let k = 0; k < 2000; k++) queue.enqueue(`s${i}`, k);
      });
      const rounds = 100 * weights.reduce((a, b) => a + b, 0);
      for (let r = 0; r < rounds; r++) {
        const out = queue.dequeue();
        if (out) served[Number(out.submitter.slice(1))]! += 1;
      }
      const normalised = served.map((count, i) => count / (weights[i] as number));
      expect(jainIndex(normalised)).toBeGreaterThan(0.99);
    },
  );

  it("gives an idle submitter no banked credit", () => {
    const queue = new WeightedFairQueue<string>();
    for (let i = 0; i < 10; i++) queue.enqueue("busy", `b${i}`);
    for (let i = 0; i < 5; i++) queue.dequeue();
    queue.enqueue("late", "l0");
    const next = [queue.dequeue(), queue.dequeue()].map((out) => out?.submitter);
    expect(next).toContain("busy");
    expect(() => new WeightedFairQueue({ weights: { a: 0 } })).toThrow(RangeError);
  });
});

describe("VruntimeQueue", () => {
  it("serves groups by least virtual runtime in proportion to weight", () => {
    const queue = new VruntimeQueue<number>({ weights: { a: 3, b: 1 } });
    for (let i = 0; i < 400; i++) {
      queue.enqueue("a", i);
      queue.enqueue("b", i);
    }
    const counts = { a: 0, b: 0 };
    for (let i = 0; i < 400; i++) {
      const out = queue.dequeue(10);
      if (out) counts[out.group as "a" | "b"]++;
    }
    expect(counts.a).toBeGreaterThanOrEqual(299);
    expect(counts.a).toBeLessThanOrEqual(301);
    expect(queue.size).toBe(400);
  });

  it("starts a waking group at the current minimum and accepts corrections", () => {
    const queue = new VruntimeQueue<string>();
    for (let i = 0; i < 5; i++) queue.enqueue("a", `a${i}`);
    for (let i = 0; i < 5; i++) queue.dequeue();
    queue.enqueue("b", "b0");
    queue.enqueue("a", "a5");
    expect(queue.vruntimeOf("b")).toBeGreaterThanOrEqual(4);
    queue.charge("a", 100);
    expect(queue.dequeue()?.group).toBe("b");
    expect(queue.dequeue()?.group).toBe("a");
    expect(queue.dequeue()).toBeUndefined();
  });
});

describe("serialisation", () => {
  it("restores a WFQ mid-stream with the same service order", () => {
    const queue = new WeightedFairQueue<number>({ weights: { a: 1, b: 3 } });
    for (let i = 0; i < 20; i++) queue.enqueue(i % 2 === 0 ? "a" : "b", i, 1 + (i % 5));
    for (let i = 0; i < 6; i++) queue.dequeue();
    const restored = WeightedFairQueue.fromJSON<number>(JSON.parse(JSON.stringify(queue)));
    queue.enqueue("c", 100);
    restored.enqueue("c", 100);
    const drain = (q: WeightedFairQueue<number>) => Array.from({ length: 15 }, () => q.dequeue()?.item);
    expect(drain(restored)).toEqual(drain(queue));
  });
});

describe("VruntimeQueue serialisation", () => {
  it("continues with the same order after a round trip", () => {
    const queue = new VruntimeQueue<number>({ weights: { a: 2 } });
    for (let i = 0; i < 12; i++) queue.enqueue(["a", "b", "c"][i % 3] as string, i);
    for (let i = 0; i < 4; i++) queue.dequeue(i + 1);
    const restored = VruntimeQueue.fromJSON<number>(JSON.parse(JSON.stringify(queue)));
    expect(restored.size).toBe(queue.size);
    const drain = (q: VruntimeQueue<number>) => Array.from({ length: 8 }, () => q.dequeue(3)?.item);
    expect(drain(restored)).toEqual(drain(queue));
  });
});
