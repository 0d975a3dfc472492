import {
  createStrategy,
  eligibleNodes,
  type NodeView,
  type RandomSource,
  seededRandom,
  type TaskView,
} from "../src/index.js";
import { emit, nsPerOp } from "./report.js";

function randomFleet(count: number, random: RandomSource): NodeView[] {
  return Array.from({ length: count }, (_, i) => {
    const linux = random() < 0.5;
    return {
      id: `node-${i}`,
      capabilities: linux ? ["heavy", "isolation"] : ["light"],
      attributes: {
        os: linux ? "linux" : "darwin",
        arch: random() < 0.5 ? "x64" : "arm64",
        cores: [4, 8, 16, 32][Math.floor(random() * 4)] as number,
        memoryBytes: ([8, 16, 64][Math.floor(random() * 3)] as number) * 2 ** 30,
        docker: linux || random() < 0.3,
        freeDiskBytes: Math.floor(random() * 500) * 2 ** 30,
        labels: { site: random() < 0.5 ? "home" : "office", pool: `p${i % 5}` },
      },
      slotsTotal: 4,
      slotsUsed: Math.floor(random() * 5),
      queued: Math.floor(random() * 10),
      load1: random() * 6,
      healthy: random() < 0.95,
      ewmaRunMs: 500 + random() * 1000,
    };
  });
}

/**
 * One placement decision over 200 nodes: eligibility of every node (needs + constraints, with reasons for
 * each rejected node) then the least_loaded strategy over the eligible ones.
 */
export function benchPlacement(): void {
  const random = seededRandom(3);
  const nodes = randomFleet(200, random);
  const tasks: TaskView[] = [
    { id: "a", priority: "normal", enqueuedAt: 0, needs: { docker: true } },
    { id: "b", priority: "normal", enqueuedAt: 0, needs: { heavy: true, cores: 16 } },
    {
      id: "c",
      priority: "high",
      enqueuedAt: 0,
      constraints: [
        { attr: "os", op: "eq", value: "linux" },
        { attr: "label.site", op: "in", value: ["home", "lab"] },
        { attr: "freeDiskBytes", op: "gte", value: 50 * 2 ** 30 },
      ],
    },
    { id: "d", priority: "low", enqueuedAt: 0 },
  ];
  const strategy = createStrategy("least_loaded", { fallbackNodeId: "node-0" });
  const ctx = { now: 0, random };
  let picked = 0;
  const ns = nsPerOp((iterations) => {
    for (let i = 0; i < iterations; i++) {
      const task = tasks[i & 3] as TaskView;
      const { eligible } = eligibleNodes(task, nodes);
      if (strategy.select(eligible, task, ctx) !== undefined) picked++;
    }
  }, 20_000);
  emit({ bench: "placement", nodes: nodes.length, ns_per_decision: ns, picked_any: picked > 0 });
}
