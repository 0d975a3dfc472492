import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { type DeadlineEntry, EdfQueue } from "./edf.js";

describe("EdfQueue", () => {
  test.prop(
    [
      fc.integer({ min: 1, max: 3 }),
      fc.array(
        fc.record({
          gap: fc.integer({ min: 0, max: 50 }),
          estimatedMs: fc.integer({ min: 1, max: 40 }),
          slack: fc.integer({ min: 0, max: 200 }),
        }),
        { maxLength: 120 },
      ),
    ],
    { numRuns: 150 },
  )("admitted tasks meet their deadlines when estimates hold (1 to 3 slots)", (servers, specs) => {
    const queue = new EdfQueue<DeadlineEntry>({ servers });
    const arrivals: { at: number; task: DeadlineEntry }[] = [];
    let at = 0;
    specs.forEach((spec, i) => {
      at += spec.gap;
      arrivals.push({
        at,
        task: { id: `t${i}`, estimatedMs: spec.estimatedMs, deadlineAt: at + spec.estimatedMs + spec.slack },
      });
    });
    // Event loop: each slot runs one task at a time, exactly as long as estimated; a freed slot takes the
    // earliest-deadline task at once. Arrivals at the same instant as a completion are admitted first.
    const slots = Array.from({ length: servers }, () => ({
      freeAt: 0,
      task: undefined as DeadlineEntry | undefined,
    }));
    let next = 0;
    let clock = 0;
    const misses: string[] = [];
    for (;;) {
      const arrival = arrivals[next];
      let slot = slots[0] as (typeof slots)[number];
      for (const candidate of slots) if (candidate.freeAt < slot.freeAt) slot = candidate;
      if (arrival !== undefined && (queue.size === 0 || arrival.at <= slot.freeAt)) {
        clock = Math.max(clock, arrival.at);
        const admission = queue.submit(arrival.task, arrival.at);
        if (!admission.admitted) expect(admission.reason).toMatch(/deadline/);
        next++;
        continue;
      }
      if (queue.size === 0) break;
      if (slot.task !== undefined) queue.complete(slot.freeAt, slot.task.id);
      slot.task = undefined;
      const now = Math.max(clock, slot.freeAt);
      clock = now;
      const task = queue.pop(now) as DeadlineEntry;
      slot.task = task;
      slot.freeAt = now + task.estimatedMs;
      if (slot.freeAt > task.deadlineAt) misses.push(task.id);
    }
    expect(misses).toEqual([]);
  });

  it("refuses with a reason instead of running late", () => {
    const queue = new EdfQueue<DeadlineEntry>();
    expect(queue.submit({ id: "a", estimatedMs: 100, deadlineAt: 150 }, 0)).toMatchObject({
      admitted: true,
      expectedFinishAt: 100,
    });
    const own = queue.submit({ id: "b", estimatedMs: 100, deadlineAt: 180 }, 0);
    expect(own).toMatchObject({ admitted: false, code: "E_ADMISSION", wouldMiss: "b", lateByMs: 20 });
    const other = queue.submit({ id: "c", estimatedMs: 100, deadlineAt: 90 }, 0);
    expect(other).toMatchObject({ admitted: false, wouldMiss: "c" });
    const squeezes = queue.submit({ id: "d", estimatedMs: 60, deadlineAt: 60 }, 0);
    expect(squeezes).toMatchObject({ admitted: false, wouldMiss: "a" });
    expect(queue.peek()?.id).toBe("a");
    expect(queue.remove("a")?.id).toBe("a");
    expect(queue.size).toBe(0);
  });
});

describe("EdfQueue serialisation", () => {
  it("keeps admitted work and the busy horizon across a round trip", () => {
    const queue = new EdfQueue<DeadlineEntry>();
    queue.submit({ id: "a", estimatedMs: 100, deadlineAt: 1000 }, 0);
    queue.submit({ id: "b", estimatedMs: 100, deadlineAt: 500 }, 0);
    queue.pop(0);
    const restored = EdfQueue.fromJSON<DeadlineEntry>(JSON.parse(JSON.stringify(queue)));
    expect(restored.peek()?.id).toBe("a");
    const probe = { id: "c", estimatedMs: 850, deadlineAt: 1000 };
    expect(restored.submit(probe, 0)).toEqual(queue.submit(probe, 0));
    expect(EdfQueue.fromJSON(JSON.parse(JSON.stringify(new EdfQueue()))).size).toBe(0);
  });
});
