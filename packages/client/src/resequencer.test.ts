import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { Resequencer } from "./resequencer.js";

const chunk = (seq: number, epoch = 1) => ({ seq, epoch });

describe("Resequencer", () => {
  test.prop([fc.array(fc.nat(30), { maxLength: 200 })])(
    "delivers each seq from the start point once, in order, whatever the arrival order",
    (arrivals) => {
      const sequencer = new Resequencer<{ seq: number; epoch: number }>(0, {
        gapMs: Number.POSITIVE_INFINITY,
      });
      const out: number[] = [];
      // Every seq 0..30 arrives at least once, after an arbitrary prefix of duplicates and reorderings.
      for (const seq of [...arrivals, ...Array.from({ length: 31 }, (_, i) => i)]) {
        for (const item of sequencer.accept(chunk(seq)).ready) out.push(item.seq);
      }
      expect(out).toEqual(Array.from({ length: 31 }, (_, i) => i));
    },
  );

  it("skips a gap that stays open past gapMs, and flushes what is held", () => {
    let now = 0;
    const sequencer = new Resequencer<{ seq: number; epoch: number }>(0, { gapMs: 100, clock: () => now });
    expect(sequencer.accept(chunk(0)).ready).toEqual([chunk(0)]);
    expect(sequencer.accept(chunk(2)).ready).toEqual([]);
    now = 150;
    expect(sequencer.accept(chunk(3)).ready.map((item) => item.seq)).toEqual([2, 3]);
    expect(sequencer.accept(chunk(1)).ready).toEqual([]);
    expect(sequencer.accept(chunk(6)).ready).toEqual([]);
    expect(sequencer.flush()).toEqual([chunk(6)]);
    expect(sequencer.nextSeq).toBe(7);
  });

  it("starts over at seq 0 when a retry runs under a new epoch, and drops the fenced run's chunks", () => {
    const sequencer = new Resequencer<{ seq: number; epoch: number }>(0);
    for (const seq of [0, 1, 2]) sequencer.accept(chunk(seq, 1));
    expect(sequencer.accept(chunk(0, 2))).toEqual({ ready: [chunk(0, 2)], replayFromStart: false });
    expect(sequencer.accept(chunk(3, 1)).ready).toEqual([]);
    expect(sequencer.accept(chunk(1, 2)).ready).toEqual([chunk(1, 2)]);
    // A run that began while the subscriber was away: ask for it from the start.
    const jumped = sequencer.accept(chunk(4, 3));
    expect(jumped).toEqual({ ready: [], replayFromStart: true });
    expect(sequencer.accept(chunk(0, 3)).ready).toEqual([chunk(0, 3)]);
  });
});
