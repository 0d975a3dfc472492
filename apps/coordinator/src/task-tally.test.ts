import { describe, expect, it } from "vitest";
import { TaskTally } from "./task-tally.js";

describe("TaskTally", () => {
  it("counts tasks by state and the unleased ones by priority as they move, ended ones not at all", () => {
    const tally = new TaskTally();
    tally.entered("queued", "high");
    tally.entered("waiting", "low");
    tally.entered("leased", "normal");
    tally.moved("queued", "leased", "high");
    tally.moved("leased", "running", "high");
    tally.moved("running", "succeeded", "high");
    tally.moved("waiting", "dead_lettered", "low");
    expect(tally.census()).toEqual({
      states: { queued: 0, waiting: 0, leased: 1, running: 0, dead_lettered: 1 },
      priorities: { high: 0, low: 0 },
    });
    tally.forgotten("dead_lettered", 1);
    expect(tally.census().states.dead_lettered).toBe(0);
  });

  it("starts again from a census, and never goes below zero", () => {
    const tally = new TaskTally();
    tally.reset({ states: { queued: 2 }, priorities: { normal: 2 } });
    tally.moved("queued", "leased", "normal");
    tally.moved("running", "failed", "normal");
    tally.forgotten("dead_lettered", 5);
    expect(tally.census()).toEqual({
      states: { queued: 1, leased: 1, running: 0, dead_lettered: 0 },
      priorities: { normal: 1 },
    });
    tally.reset();
    expect(tally.census()).toEqual({ states: {}, priorities: {} });
  });
});
