import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { Resequencer } from "./resequencer.js";

describe("Resequencer", () => {
  test.prop([fc.array(fc.nat(30), { maxLength: 200 })])(
    "delivers each seq from the start point once, in order, whatever the arrival order",
    (arrivals) => {
      const sequencer = new Resequencer<{ seq: number }>(0, { gapMs: Number.POSITIVE_INFINITY });
      const out: number[] = [];
      // Every seq 0..30 arrives at least once, after an arbitrary prefix of duplicates and reorderings.
      for (const seq of [...arrivals, ...Array.from({ length: 31 }, (_, i) => i)]) {
        for (const item of sequencer.accept({ seq })) out.push(item.seq);
      }
      expect(out).toEqual(Array.from({ length: 31 }, (_, i) => i));
    },
  );

  it("skips a gap that stays open past gapMs, and flushes what is held", () => {
    let now = 0;
    const sequencer = new Resequencer<{ seq: number }>(0, { gapMs: 100, clock: () => now });
    expect(sequencer.accept({ seq: 0 })).toEqual([{ seq: 0 }]);
    expect(sequencer.accept({ seq: 2 })).toEqual([]);
    now = 150;
    expect(sequencer.accept({ seq: 3 }).map((item) => item.seq)).toEqual([2, 3]);
    expect(sequencer.accept({ seq: 1 })).toEqual([]);
    expect(sequencer.accept({ seq: 6 })).toEqual([]);
    expect(sequencer.flush()).toEqual([{ seq: 6 }]);
    expect(sequencer.nextSeq).toBe(7);
  });
});
