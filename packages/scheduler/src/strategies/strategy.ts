import type { DecisionContext, NodeView, TaskView } from "../types.js";

/**
 * A balancing strategy picks one node among candidates that are already known to be able to run the task
 * (see `eligibleNodes`). Strategies skip nodes that are unhealthy, draining or whose breaker is open, so a
 * caller may pass a stale list safely. They may keep state between calls (round robin's cursor), but take
 * time and randomness only from `ctx`.
 */
export interface BalancingStrategy {
  readonly name: StrategyName;
  select(nodes: readonly NodeView[], task: TaskView, ctx: DecisionContext): NodeView | undefined;
}

/** Names accepted by `createStrategy`. */
export type StrategyName =
  | "round_robin"
  | "smooth_weighted_round_robin"
  | "least_connections"
  | "random"
  | "p2c"
  | "consistent_hash"
  | "capacity"
  | "performance"
  | "least_loaded";

/** Options shared by all strategies (each reads the ones it needs). */
export interface StrategyOptions {
  /** least_loaded: nodes at or above this one-minute load average are skipped (default 3.0). */
  loadThreshold?: number;
  /** least_loaded: node to use when every candidate is over the threshold (the coordinator's own). */
  fallbackNodeId?: string;
  /** consistent_hash: a node may hold at most `ceil(c × average load)` (default 1.25). */
  boundedLoadFactor?: number;
  /** consistent_hash: points per node on the ring (default 64). */
  virtualNodes?: number;
  /** performance: run time assumed for nodes without an EWMA yet (default: mean of the known ones). */
  defaultRunMs?: number;
}

/** Whether a node takes work at all: healthy, not draining, breaker not open. */
export function isAvailable(node: NodeView): boolean {
  return node.healthy && node.draining !== true && node.breaker !== "open";
}

/** Work on a node per slot: running plus queued, divided by slots. */
export function occupancy(node: NodeView): number {
  return (node.slotsUsed + node.queued) / Math.max(1, node.slotsTotal);
}

/** A node's relative capacity: `weight`, else its slot count. */
export function capacityWeight(node: NodeView): number {
  return node.weight ?? Math.max(1, node.slotsTotal);
}

/** The available node with the smallest `score` (first wins ties), or undefined. */
export function pickMin(nodes: readonly NodeView[], score: (node: NodeView) => number): NodeView | undefined {
  let best: NodeView | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const node of nodes) {
    if (!isAvailable(node)) continue;
    const value = score(node);
    if (best === undefined || value < bestScore) {
      best = node;
      bestScore = value;
    }
  }
  return best;
}
