import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { makeNode, makeTask } from "./fixtures.js";
import { checkEligibility } from "./placement/eligibility.js";
import { canRun, planRebalance, planSteal } from "./stealing.js";
import type { NodeView, TaskView } from "./types.js";

const capabilityArb = fc.subarray(["docker", "heavy", "gpu"]);
const nodeArb = (id: string) =>
  fc
    .record({
      capabilities: capabilityArb,
      slotsTotal: fc.integer({ min: 1, max: 4 }),
      slotsUsed: fc.integer({ min: 0, max: 4 }),
    })
    .map((spec) => makeNode(id, spec));
const taskArb = (id: string) =>
  fc
    .record({
      needs: fc.dictionary(fc.constantFrom("docker", "heavy", "gpu"), fc.constant(true), { maxKeys: 2 }),
    })
    .map((spec) => makeTask(id, spec));
const queueArb = (prefix: string) =>
  fc
    .integer({ min: 0, max: 12 })
    .chain((length) => fc.tuple(...Array.from({ length }, (_, i) => taskArb(`${prefix}-t${i}`))));

describe("planSteal", () => {
  test.prop([nodeArb("thief"), fc.array(fc.tuple(capabilityArb, queueArb("v")), { maxLength: 5 })], {
    numRuns: 150,
  })(
    "never moves a task to a node that cannot run it, and takes at most half (at least one)",
    (thief, specs) => {
      const victims = specs.map(([capabilities, queued], i) => ({
        node: makeNode(`v${i}`, { capabilities, slotsUsed: 2 }),
        queued: (queued as TaskView[]).map((task) => ({ ...task, id: `v${i}-${task.id}` })),
      }));
      const plan = planSteal({ thief, victims, maxBatch: 100 });
      const runnableCounts = victims.map(
        (victim) => victim.queued.filter((task) => canRun(thief, task)).length,
      );
      if (plan === undefined) {
        expect(runnableCounts.every((count) => count === 0)).toBe(true);
        return;
      }
      const victim = victims.find((candidate) => candidate.node.id === plan.victim);
      expect(victim).toBeDefined();
      for (const task of plan.tasks) {
        expect(checkEligibility(task, thief).eligible).toBe(true);
        expect(victim?.queued).toContain(task);
      }
      const runnable = victim?.queued.filter((task) => canRun(thief, task)).length ?? 0;
      expect(plan.tasks.length).toBeGreaterThanOrEqual(1);
      expect(plan.tasks.length).toBeLessThanOrEqual(Math.max(1, Math.floor(runnable / 2)));
    },
  );

  it("picks the most loaded victim it can help, from the tail, honouring the threshold", () => {
    const thief = makeNode("thief", {
      capabilities: [],
      attributes: { ...makeNode("x").attributes, docker: false },
    });
    const docker = (id: string) => makeTask(id, { needs: { docker: true } });
    const plain = (id: string) => makeTask(id);
    const victims = [
      {
        node: makeNode("busy-docker"),
        queued: [docker("d1"), docker("d2"), docker("d3"), docker("d4"), docker("d5")],
      },
      { node: makeNode("busy"), queued: [plain("p1"), plain("p2"), plain("p3"), plain("p4")] },
      { node: makeNode("light"), queued: [plain("q1")] },
    ];
    expect(planSteal({ thief, victims })).toEqual({ victim: "busy", tasks: [plain("p3"), plain("p4")] });
    expect(planSteal({ thief, victims, maxBatch: 1 })?.tasks).toEqual([plain("p4")]);
    expect(planSteal({ thief, victims: victims.slice(2), threshold: 2 })).toBeUndefined();
    expect(planSteal({ thief: { ...thief, healthy: false }, victims })).toBeUndefined();
  });

  it("does not let a slow thief take work a fast victim would finish sooner", () => {
    const tasks = [1, 2, 3, 4].map((i) => makeTask(`t${i}`, { estimatedMs: 1000 }));
    const fastVictim = {
      node: makeNode("fast", { speed: 4, slotsTotal: 1, slotsUsed: 1, backlogMs: 4500 }),
      queued: tasks,
    };
    expect(planSteal({ thief: makeNode("slow", { speed: 1 }), victims: [fastVictim] })).toEqual({
      victim: "fast",
      tasks: [tasks[3]],
    });
    const nearlyDone = {
      ...fastVictim,
      queued: tasks.slice(0, 2),
      node: { ...fastVictim.node, backlogMs: 2100 },
    };
    expect(planSteal({ thief: makeNode("slow", { speed: 1 }), victims: [nearlyDone] })).toBeUndefined();
    expect(planSteal({ thief: makeNode("quick", { speed: 8 }), victims: [nearlyDone] })?.tasks).toEqual([
      tasks[1],
    ]);
  });
});

describe("planRebalance", () => {
  test.prop([fc.array(fc.tuple(nodeArb("n"), queueArb("q")), { minLength: 1, maxLength: 6 })], {
    numRuns: 100,
  })("only migrates to nodes that can run the task, and never makes the spread worse", (specs) => {
    const nodes = specs.map(([node, queued], i) => ({
      node: { ...node, id: `n${i}` } as NodeView,
      queued: (queued as TaskView[]).map((task) => ({ ...task, id: `n${i}-${task.id}` })),
    }));
    const migrations = planRebalance({ nodes });
    const byId = new Map(nodes.map((entry) => [entry.node.id, entry]));
    const taskById = new Map(nodes.flatMap((entry) => entry.queued.map((task) => [task.id, task] as const)));
    const seen = new Set<string>();
    for (const move of migrations) {
      const target = byId.get(move.to)?.node as NodeView;
      expect(canRun(target, taskById.get(move.taskId) as TaskView)).toBe(true);
      expect(seen.has(move.taskId)).toBe(false);
      seen.add(move.taskId);
    }
  });

  it("moves work from an overloaded node to idle ones", () => {
    const tasks = Array.from({ length: 8 }, (_, i) => makeTask(`t${i}`));
    const moves = planRebalance({
      nodes: [
        { node: makeNode("hot", { slotsTotal: 1, slotsUsed: 1 }), queued: tasks },
        { node: makeNode("cold-1", { slotsTotal: 1 }), queued: [] },
        { node: makeNode("cold-2", { slotsTotal: 1 }), queued: [] },
      ],
    });
    const count = (id: string) => moves.filter((move) => move.to === id).length;
    expect(moves.every((move) => move.from === "hot")).toBe(true);
    expect(count("cold-1")).toBeGreaterThanOrEqual(2);
    expect(count("cold-2")).toBeGreaterThanOrEqual(2);
    expect(moves.length).toBeLessThanOrEqual(6);
  });

  it("counts a node's queue it was not given the tasks of, and moves nothing to a node as loaded", () => {
    const tasks = Array.from({ length: 8 }, (_, i) => makeTask(`t${i}`));
    const hot = { node: makeNode("hot", { slotsTotal: 1, slotsUsed: 1 }), queued: tasks };
    const warm = { node: makeNode("warm", { slotsTotal: 1, slotsUsed: 1 }), queued: [], queuedCount: 8 };
    expect(planRebalance({ nodes: [hot, warm] })).toEqual([]);
    const cool = { ...warm, queuedCount: 2 };
    const moves = planRebalance({ nodes: [hot, cool] });
    expect(moves.length).toBeGreaterThan(0);
    expect(moves.every((move) => move.from === "hot" && move.to === "warm")).toBe(true);
  });
});
