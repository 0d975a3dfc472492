import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { deadlineHitRatio } from "../metrics.js";
import { seededRandom } from "../random.js";
import { createStrategy } from "../strategies/index.js";
import { makespanLowerBound, type SimNode, type SimTask, simulate } from "./simulator.js";
import { batchWorkload, fleet, poissonWorkload } from "./workloads.js";

describe("simulate", () => {
  it("is deterministic for the same inputs and seed", () => {
    const nodes = fleet(6, true);
    const tasks = batchWorkload("lognormal", 120, seededRandom(5));
    const run = () => simulate({ nodes, tasks, strategy: createStrategy("p2c"), stealing: true, seed: 9 });
    const first = run();
    const second = run();
    expect(second.makespan).toBe(first.makespan);
    expect(second.finished).toEqual(first.finished);
    expect(first.finished).toHaveLength(120);
    expect(first.makespan).toBeGreaterThanOrEqual(makespanLowerBound(nodes, tasks) - 1e-9);
  });

  it("stealing beats static round robin on a skewed batch", () => {
    const nodes = fleet(8, false);
    const tasks = batchWorkload("lognormal", 200, seededRandom(1));
    const fixed = simulate({ nodes, tasks, strategy: createStrategy("round_robin") });
    const stolen = simulate({
      nodes,
      tasks,
      strategy: createStrategy("performance"),
      stealing: true,
      queueOrder: "longest_first",
    });
    expect(stolen.steals).toBeGreaterThan(0);
    expect(stolen.makespan).toBeLessThan(fixed.makespan);
    expect(stolen.queueLatency.count).toBe(200);
  });

  it("requeues the work of a failed node and finishes everything", () => {
    const nodes: SimNode[] = [
      { id: "a", speed: 1, slots: 1, failAt: 1500, recoverAt: 10_000 },
      { id: "b", speed: 1, slots: 1 },
    ];
    const tasks: SimTask[] = Array.from({ length: 6 }, (_, i) => ({ id: `t${i}`, arrivalAt: 0, work: 1000 }));
    const result = simulate({ nodes, tasks, strategy: createStrategy("round_robin"), stealing: true });
    expect(result.finished.map((task) => task.id).sort()).toEqual(["t0", "t1", "t2", "t3", "t4", "t5"]);
    expect(result.requeuedOnFailure).toBeGreaterThan(0);
    expect(result.finished.filter((task) => task.node === "a").every((task) => task.finishedAt <= 1500)).toBe(
      true,
    );
    expect(result.unplaced).toEqual([]);
  });

  it("parks tasks while no node is alive and reports unplaceable ones", () => {
    const nodes: SimNode[] = [{ id: "a", speed: 1, slots: 1, failAt: 0, recoverAt: 500 }];
    const tasks: SimTask[] = [
      { id: "x", arrivalAt: 100, work: 10 },
      { id: "gpu", arrivalAt: 100, work: 10, needs: { gpu: true } },
    ];
    const result = simulate({ nodes, tasks, strategy: createStrategy("least_loaded") });
    expect(result.finished.map((task) => [task.id, task.startedAt])).toEqual([["x", 500]]);
    expect(result.unplaced).toEqual(["gpu"]);
  });

  test.prop(
    [fc.integer({ min: 1, max: 1000 }), fc.constantFrom("round_robin", "p2c", "least_loaded" as const)],
    {
      numRuns: 25,
    },
  )("never runs a task on a node that cannot run it, stealing included", (seed, name) => {
    const random = seededRandom(seed);
    const nodes: SimNode[] = Array.from({ length: 5 }, (_, i) => ({
      id: `n${i}`,
      speed: 1 + (i % 3),
      slots: 1 + (i % 2),
      capabilities: i % 2 === 0 ? ["docker"] : [],
    }));
    const tasks: SimTask[] = batchWorkload("exponential", 60, random).map((task, i) =>
      i % 3 === 0 ? { ...task, needs: { docker: true } } : task,
    );
    const result = simulate({ nodes, tasks, strategy: createStrategy(name), stealing: true, seed });
    const dockerNodes = new Set(["n0", "n2", "n4"]);
    for (const finished of result.finished) {
      if (Number(finished.id.slice(1)) % 3 === 0) expect(dockerNodes.has(finished.node)).toBe(true);
    }
    expect(result.finished).toHaveLength(60);
  });
});

describe("open arrivals with priorities and deadlines", () => {
  it("runs critical work ahead and reports deadline outcomes under score ordering", () => {
    const tasks = poissonWorkload(
      {
        count: 400,
        meanGapMs: 300,
        sizes: "exponential",
        priorityMix: { critical: 0.1, high: 0.2, normal: 0.4, low: 0.3 },
        deadlineShare: 0.2,
        estimateErrorSigma: 0.2,
      },
      seededRandom(4),
    );
    const nodes = fleet(4, false);
    const result = simulate({
      nodes,
      tasks,
      strategy: createStrategy("least_loaded"),
      stealing: true,
      queueOrder: "score",
    });
    expect(result.finished).toHaveLength(400);
    const byId = new Map(tasks.map((task) => [task.id, task]));
    const wait = (priority: string) => {
      const waits = result.finished
        .filter((task) => byId.get(task.id)?.priority === priority)
        .map((task) => task.startedAt - task.arrivalAt);
      return waits.reduce((a, b) => a + b, 0) / Math.max(1, waits.length);
    };
    expect(wait("critical")).toBeLessThanOrEqual(wait("low"));
    const withDeadline = result.finished.filter((task) => task.deadlineAt !== undefined) as {
      finishedAt: number;
      deadlineAt: number;
    }[];
    expect(withDeadline.length).toBeGreaterThan(40);
    expect(deadlineHitRatio(withDeadline)).toBeGreaterThan(0.5);
  });
});
