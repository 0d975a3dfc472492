import { ConsistentHashStrategy } from "./hash.js";
import {
  CapacityStrategy,
  LeastConnectionsStrategy,
  LeastLoadedStrategy,
  PerformanceStrategy,
  PowerOfTwoStrategy,
  RandomStrategy,
  RoundRobinStrategy,
  SmoothWeightedRoundRobinStrategy,
} from "./simple.js";
import type { BalancingStrategy, StrategyName, StrategyOptions } from "./strategy.js";

/** Every strategy name, for configuration validation and conformance tests. */
export const STRATEGY_NAMES: readonly StrategyName[] = [
  "round_robin",
  "smooth_weighted_round_robin",
  "least_connections",
  "random",
  "p2c",
  "consistent_hash",
  "capacity",
  "performance",
  "least_loaded",
];

/** Builds a strategy by name; throws `RangeError` for an unknown name or invalid options. */
export function createStrategy(name: StrategyName, options: StrategyOptions = {}): BalancingStrategy {
  switch (name) {
    case "round_robin":
      return new RoundRobinStrategy();
    case "smooth_weighted_round_robin":
      return new SmoothWeightedRoundRobinStrategy();
    case "least_connections":
      return new LeastConnectionsStrategy();
    case "random":
      return new RandomStrategy();
    case "p2c":
      return new PowerOfTwoStrategy();
    case "consistent_hash":
      return new ConsistentHashStrategy(options);
    case "capacity":
      return new CapacityStrategy();
    case "performance":
      return new PerformanceStrategy(options);
    case "least_loaded":
      return new LeastLoadedStrategy(options);
    default:
      throw new RangeError(`unknown strategy ${String(name)}`);
  }
}
