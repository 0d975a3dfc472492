import {
  type BalancingStrategy,
  batchWorkload,
  createStrategy,
  fleet,
  makespanLowerBound,
  type QueueOrder,
  sampleNormal,
  seededRandom,
  simulate,
  type WorkloadKind,
} from "../src/index.js";
import { emit, mean, percentile } from "./report.js";

interface Variant {
  name: string;
  /** Log-normal sigma of the error on each task's estimate (0 = exact). */
  estimateErrorSigma?: number;
  strategy: () => BalancingStrategy;
  stealing: boolean;
  queueOrder: QueueOrder;
}

/**
 * The routing set-ups compared (the four of the issue, plus `steal` with noisy estimates). `steal` is the full design: each task goes to the node with the
 * earliest expected finish (performance strategy on estimates), local queues run longest first, and idle
 * nodes steal half of the runnable tail of the most loaded queue.
 */
const VARIANTS: Variant[] = [
  { name: "round_robin", strategy: () => createStrategy("round_robin"), stealing: false, queueOrder: "fifo" },
  {
    name: "least_loaded",
    // Every task of the batch arrives at once, so the 3.0 load threshold would send the whole tail to the
    // fallback node; the comparison is about balancing, so the threshold is lifted here.
    strategy: () => createStrategy("least_loaded", { loadThreshold: Number.POSITIVE_INFINITY }),
    stealing: false,
    queueOrder: "fifo",
  },
  { name: "p2c", strategy: () => createStrategy("p2c"), stealing: false, queueOrder: "fifo" },
  {
    name: "steal",
    strategy: () => createStrategy("performance"),
    stealing: true,
    queueOrder: "longest_first",
  },
  {
    // The same with estimates off by a log-normal factor (sigma 0.5: often 1.6x too high or too low).
    name: "steal_noisy_estimates",
    strategy: () => createStrategy("performance"),
    stealing: true,
    queueOrder: "longest_first",
    estimateErrorSigma: 0.5,
  },
];

const WORKLOADS: WorkloadKind[] = ["uniform", "exponential", "lognormal"];
const NODE_COUNTS = [4, 8, 16];
const TASKS_PER_NODE = 25;

/** Makespan over the lower bound, 200 seeds per cell. */
export function benchMakespan(seeds = 200): void {
  for (const workload of WORKLOADS) {
    for (const heterogeneous of [false, true]) {
      for (const nodeCount of NODE_COUNTS) {
        for (const variant of VARIANTS) {
          const ratios: number[] = [];
          for (let seed = 1; seed <= seeds; seed++) {
            const nodes = fleet(nodeCount, heterogeneous);
            const tasks = batchWorkload(
              workload,
              nodeCount * TASKS_PER_NODE,
              seededRandom(seed * 7919 + nodeCount),
            );
            const sigma = variant.estimateErrorSigma ?? 0;
            if (sigma > 0) {
              const noise = seededRandom(seed);
              for (const task of tasks) task.estimatedMs = task.work * Math.exp(sigma * sampleNormal(noise));
            }
            const result = simulate({
              nodes,
              tasks,
              strategy: variant.strategy(),
              stealing: variant.stealing,
              queueOrder: variant.queueOrder,
              seed,
            });
            ratios.push(result.makespan / makespanLowerBound(nodes, tasks));
          }
          emit({
            bench: "makespan",
            workload,
            speeds: heterogeneous ? "heterogeneous_1x2x4x" : "homogeneous",
            nodes: nodeCount,
            strategy: variant.name,
            ratio_to_lower_bound: mean(ratios),
            ratio_p95: percentile(ratios, 95),
            seeds,
          });
        }
      }
    }
  }
}
