import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { BinaryHeap } from "./heap.js";

describe("BinaryHeap", () => {
  test.prop([fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 300 })], { numRuns: 200 })(
    "pops in key order, FIFO among equal keys",
    (keys) => {
      const heap = new BinaryHeap<{ key: number; seq: number }>((a, b) => a.key - b.key);
      keys.forEach((key, seq) => {
        heap.push({ key, seq });
      });
      const out: { key: number; seq: number }[] = [];
      for (let item = heap.pop(); item !== undefined; item = heap.pop()) out.push(item);
      const expected = keys.map((key, seq) => ({ key, seq })).sort((a, b) => a.key - b.key || a.seq - b.seq);
      expect(out).toEqual(expected);
    },
  );

  test.prop(
    [fc.array(fc.oneof(fc.integer({ min: 0, max: 50 }), fc.constant("pop" as const)), { maxLength: 300 })],
    { numRuns: 200 },
  )("interleaved push/pop always yields the current minimum", (ops) => {
    const heap = new BinaryHeap<number>((a, b) => a - b);
    const model: number[] = [];
    for (const op of ops) {
      if (op === "pop") {
        model.sort((a, b) => a - b);
        expect(heap.pop()).toBe(model.shift());
      } else {
        heap.push(op);
        model.push(op);
      }
      expect(heap.size).toBe(model.length);
    }
  });

  it("removes an arbitrary entry and keeps order", () => {
    const heap = new BinaryHeap<number>((a, b) => a - b);
    for (const value of [5, 3, 9, 1, 7]) heap.push(value);
    expect(heap.remove((value) => value === 3)).toBe(3);
    expect(heap.remove((value) => value === 42)).toBeUndefined();
    expect(heap.toSortedArray()).toEqual([1, 5, 7, 9]);
    expect(heap.peek()).toBe(1);
    heap.clear();
    expect(heap.pop()).toBeUndefined();
  });
});
