import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import type { Priority } from "../types.js";
import { MultilevelQueue } from "./multilevel.js";

interface Entry {
  id: number;
  priority: Priority;
  enqueuedAt: number;
}

const priorityArb = fc.constantFrom<Priority>("critical", "high", "normal", "low");

describe("MultilevelQueue", () => {
  test.prop([fc.array(fc.tuple(priorityArb, fc.boolean()), { maxLength: 300 })], { numRuns: 200 })(
    "never dispatches a lower priority while a critical task waits",
    (ops) => {
      const queue = new MultilevelQueue<Entry>({ maxWaitMs: { high: 50, normal: 100, low: 200 } });
      let now = 0;
      ops.forEach(([priority, dequeue], id) => {
        now += 7;
        queue.push({ id, priority, enqueuedAt: now });
        if (dequeue) {
          const criticalWaiting = queue.sizeOf("critical") > 0;
          const out = queue.dequeue(now);
          if (criticalWaiting) expect(out?.priority).toBe("critical");
        }
      });
    },
  );

  test.prop(
    [
      fc.array(fc.constantFrom<Priority>("high", "normal", "low"), { minLength: 50, maxLength: 400 }),
      fc.integer({ min: 1, max: 5 }),
    ],
    { numRuns: 100 },
  )(
    "aging bound holds under saturation: waits stay within maxWait + one dispatch interval",
    (kinds, highBurst) => {
      // One dispatch per tick; high work arrives faster than it is served (saturation). Aging entries are
      // spaced so that their overdue moments are at least one tick apart, the bound's precondition.
      const tick = 10;
      const maxWaitMs = { high: Number.POSITIVE_INFINITY, normal: 300, low: 600 };
      const queue = new MultilevelQueue<Entry>({ maxWaitMs });
      const overdueMoments = new Set<number>();
      let id = 0;
      let worst = 0;
      for (let step = 0; step < kinds.length + 200; step++) {
        const now = step * tick;
        for (let burst = 0; burst < highBurst; burst++)
          queue.push({ id: id++, priority: "high", enqueuedAt: now });
        const kind = kinds[step];
        if ((kind === "normal" || kind === "low") && !overdueMoments.has(now + maxWaitMs[kind])) {
          overdueMoments.add(now + maxWaitMs[kind]);
          queue.push({ id: id++, priority: kind, enqueuedAt: now });
        }
        const out = queue.dequeue(now);
        if (out !== undefined && out.priority !== "high") {
          const wait = now - out.enqueuedAt;
          worst = Math.max(worst, wait / (maxWaitMs[out.priority as "normal" | "low"] + tick));
        }
      }
      expect(worst).toBeLessThanOrEqual(1);
    },
  );

  it("splits backlogged dispatches by weight (stride), deterministically", () => {
    const queue = new MultilevelQueue<Entry>({
      maxWaitMs: {
        high: Number.POSITIVE_INFINITY,
        normal: Number.POSITIVE_INFINITY,
        low: Number.POSITIVE_INFINITY,
      },
    });
    for (let id = 0; id < 3000; id++) {
      queue.push({ id, priority: (["high", "normal", "low"] as const)[id % 3] as Priority, enqueuedAt: 0 });
    }
    const counts: Record<string, number> = { high: 0, normal: 0, low: 0 };
    for (let i = 0; i < 1200; i++) {
      const out = queue.dequeue(0);
      if (out) counts[out.priority] = (counts[out.priority] ?? 0) + 1;
    }
    expect(counts).toEqual({ high: 600, normal: 400, low: 200 });
  });

  it("serves FIFO within a level and supports removal", () => {
    const queue = new MultilevelQueue<Entry>();
    queue.push({ id: 1, priority: "low", enqueuedAt: 1 });
    queue.push({ id: 2, priority: "low", enqueuedAt: 2 });
    queue.push({ id: 3, priority: "low", enqueuedAt: 3 });
    expect(queue.remove((entry) => entry.id === 2)?.id).toBe(2);
    expect(queue.entries().map((entry) => entry.id)).toEqual([1, 3]);
    expect(queue.peekLevel(0)).toBe("low");
    expect(queue.dequeue(0)?.id).toBe(1);
    expect(queue.dequeue(0)?.id).toBe(3);
    expect(queue.dequeue(0)).toBeUndefined();
    expect(queue.size).toBe(0);
  });

  it("survives a JSON round trip mid-stream", () => {
    const queue = new MultilevelQueue<Entry>();
    for (let id = 0; id < 30; id++) {
      queue.push({
        id,
        priority: (["high", "normal", "low", "critical"] as const)[id % 4] as Priority,
        enqueuedAt: id,
      });
    }
    for (let i = 0; i < 7; i++) queue.dequeue(100);
    const restored = MultilevelQueue.fromJSON<Entry>(JSON.parse(JSON.stringify(queue)));
    const drain = (q: MultilevelQueue<Entry>) => Array.from({ length: 23 }, () => q.dequeue(200_000)?.id);
    expect(drain(restored)).toEqual(drain(queue));
  });

  it("rejects invalid weights", () => {
    expect(() => new MultilevelQueue({ weights: { critical: 1, high: 0, normal: 1, low: 1 } })).toThrow(
      RangeError,
    );
  });
});
