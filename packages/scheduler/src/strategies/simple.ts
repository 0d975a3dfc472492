import type { DecisionContext, NodeView, TaskView } from "../types.js";
import {
  type BalancingStrategy,
  capacityWeight,
  isAvailable,
  occupancy,
  pickMin,
  type StrategyOptions,
} from "./strategy.js";

/** Cycles through available nodes in the order given. */
export class RoundRobinStrategy implements BalancingStrategy {
  readonly name = "round_robin" as const;
  #cursor = 0;

  select(nodes: readonly NodeView[]): NodeView | undefined {
    for (let tried = 0; tried < nodes.length; tried++) {
      const node = nodes[this.#cursor++ % nodes.length] as NodeView;
      if (isAvailable(node)) return node;
    }
    return undefined;
  }
}

/**
 * Smooth weighted round robin (the nginx method): each pick adds every node's weight to its current value,
 * takes the largest, and subtracts the total from it. Picks interleave (a,a,b → a,b,a) instead of bursting.
 */
export class SmoothWeightedRoundRobinStrategy implements BalancingStrategy {
  readonly name = "smooth_weighted_round_robin" as const;
  readonly #current = new Map<string, number>();

  select(nodes: readonly NodeView[]): NodeView | undefined {
    let best: NodeView | undefined;
    let bestCurrent = Number.NEGATIVE_INFINITY;
    let total = 0;
    for (const node of nodes) {
      if (!isAvailable(node)) continue;
      const weight = capacityWeight(node);
      total += weight;
      const current = (this.#current.get(node.id) ?? 0) + weight;
      this.#current.set(node.id, current);
      if (current > bestCurrent) {
        best = node;
        bestCurrent = current;
      }
    }
    if (best !== undefined) this.#current.set(best.id, bestCurrent - total);
    return best;
  }
}

/** The node with the fewest running plus queued tasks per unit of weight. */
export class LeastConnectionsStrategy implements BalancingStrategy {
  readonly name = "least_connections" as const;

  select(nodes: readonly NodeView[]): NodeView | undefined {
    return pickMin(nodes, (node) => (node.slotsUsed + node.queued) / capacityWeight(node));
  }
}

/** A uniformly random available node. */
export class RandomStrategy implements BalancingStrategy {
  readonly name = "random" as const;

  select(nodes: readonly NodeView[], _task: TaskView, ctx: DecisionContext): NodeView | undefined {
    const available = nodes.filter(isAvailable);
    return available[Math.floor(ctx.random() * available.length)];
  }
}

/**
 * Power of two choices: sample two distinct available nodes at random and take the less occupied one.
 * Nearly as balanced as least-connections with stale load data, without herding onto one node.
 */
export class PowerOfTwoStrategy implements BalancingStrategy {
  readonly name = "p2c" as const;

  select(nodes: readonly NodeView[], _task: TaskView, ctx: DecisionContext): NodeView | undefined {
    const available = nodes.filter(isAvailable);
    if (available.length <= 1) return available[0];
    const first = Math.floor(ctx.random() * available.length);
    let second = Math.floor(ctx.random() * (available.length - 1));
    if (second >= first) second++;
    const a = available[first] as NodeView;
    const b = available[second] as NodeView;
    return occupancy(b) < occupancy(a) ? b : a;
  }
}

/** The node with the most free slots (slots minus running minus queued), weighted by capacity on ties. */
export class CapacityStrategy implements BalancingStrategy {
  readonly name = "capacity" as const;

  select(nodes: readonly NodeView[]): NodeView | undefined {
    return pickMin(
      nodes,
      (node) => -(node.slotsTotal - node.slotsUsed - node.queued) - capacityWeight(node) * 1e-9,
    );
  }
}

/**
 * Performance-based. When the task has an estimate and nodes report `backlogMs`, the node with the
 * earliest expected finish, `(backlogMs / slots + estimatedMs) / speed`, where `speed` is the node's
 * reported speed or, failing that, the fleet's mean EWMA run time over the node's own. Otherwise the node
 * with the earliest expected start by count, `(tasks ahead per slot + 1) × EWMA run time`. Either way a node
 * that runs work twice as fast gets about twice as much of it.
 */
export class PerformanceStrategy implements BalancingStrategy {
  readonly name = "performance" as const;
  readonly #defaultRunMs: number | undefined;

  constructor(options: StrategyOptions = {}) {
    this.#defaultRunMs = options.defaultRunMs;
  }

  select(nodes: readonly NodeView[], task: TaskView): NodeView | undefined {
    let known = 0;
    let sum = 0;
    for (const node of nodes) {
      if (node.ewmaRunMs !== undefined) {
        known++;
        sum += node.ewmaRunMs;
      }
    }
    const typicalRunMs = this.#defaultRunMs ?? (known > 0 ? sum / known : 1);
    const estimate = task.estimatedMs;
    if (estimate !== undefined) {
      return pickMin(nodes, (node) => {
        const speed = node.speed ?? typicalRunMs / (node.ewmaRunMs ?? typicalRunMs);
        return ((node.backlogMs ?? 0) / Math.max(1, node.slotsTotal) + estimate) / speed;
      });
    }
    return pickMin(nodes, (node) => {
      const ahead =
        Math.max(0, node.slotsUsed + node.queued + 1 - node.slotsTotal) / Math.max(1, node.slotsTotal);
      return (ahead + 1) * (node.ewmaRunMs ?? typicalRunMs);
    });
  }
}

/**
 * The coordinator's default: the available node with the lowest load average among those under
 * `loadThreshold` (default 3.0), ties broken by occupancy. When none is under it, the fallback node
 * (the coordinator's own) if it is a candidate and available, else the least loaded node overall.
 */
export class LeastLoadedStrategy implements BalancingStrategy {
  readonly name = "least_loaded" as const;
  readonly #threshold: number;
  readonly #fallbackNodeId: string | undefined;

  constructor(options: StrategyOptions = {}) {
    this.#threshold = options.loadThreshold ?? 3.0;
    this.#fallbackNodeId = options.fallbackNodeId;
    if (!(this.#threshold > 0)) throw new RangeError("loadThreshold must be > 0");
  }

  select(nodes: readonly NodeView[]): NodeView | undefined {
    const score = (node: NodeView): number => node.load1 + occupancy(node) * 1e-6;
    const threshold = this.#threshold;
    const underThreshold = pickMin(nodes, (node) =>
      node.load1 < threshold ? score(node) : Number.POSITIVE_INFINITY,
    );
    if (underThreshold !== undefined && underThreshold.load1 < threshold) return underThreshold;
    const fallback = nodes.find((node) => node.id === this.#fallbackNodeId && isAvailable(node));
    return fallback ?? pickMin(nodes, score);
  }
}
