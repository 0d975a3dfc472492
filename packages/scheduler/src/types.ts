/**
 * The small input types the scheduler works on. They are deliberately independent of the protocol's wire
 * schemas: the coordinator maps its records onto these views, and other repos can do the same.
 */

/** Task priority classes, most urgent first. */
export type Priority = "critical" | "high" | "normal" | "low";

/** Every priority, most urgent first. */
export const PRIORITIES: readonly Priority[] = ["critical", "high", "normal", "low"];

/** State of a node's circuit breaker, as the coordinator reports it to placement. */
export type BreakerStateName = "closed" | "open" | "half_open";

/** Machine facts a node reports when it registers; constraints match against these. */
export interface NodeAttributes {
  os: string;
  arch: string;
  cores: number;
  memoryBytes: number;
  docker: boolean;
  freeDiskBytes: number;
  labels: Record<string, string>;
}

/** What the scheduler needs to know about a node to place, balance or steal work. */
export interface NodeView {
  id: string;
  /** Free-form capability names ("docker", "heavy", "gpu", …). */
  capabilities: string[];
  attributes: NodeAttributes;
  slotsTotal: number;
  slotsUsed: number;
  /** Tasks waiting in the node's local queue. */
  queued: number;
  /** One-minute load average. */
  load1: number;
  healthy: boolean;
  draining?: boolean;
  breaker?: BreakerStateName;
  /** Smoothed observed run time on this node (see {@link Ewma}). */
  ewmaRunMs?: number;
  /** Relative capacity for weighted strategies; defaults to `slotsTotal`. */
  weight?: number;
  /** Relative speed (1 = reference machine), from a benchmark or observed run times. */
  speed?: number;
  /** Estimated work queued and still running on the node, in ms at reference speed. */
  backlogMs?: number;
  /** Free memory for resource checks; when absent `attributes.memoryBytes` is used. */
  freeMemoryBytes?: number;
}

/** A requirement value: `true` means "capability or attribute must be truthy". */
export type NeedValue = string | number | boolean;

/** Constraint operators on node attributes. */
export type ConstraintOp = "eq" | "neq" | "in" | "exists" | "gt" | "gte" | "lt" | "lte";

/** One constraint: `attr` names an attribute, `label.<key>`, a plain label key or a capability. */
export interface Constraint {
  attr: string;
  op: ConstraintOp;
  value?: NeedValue | readonly NeedValue[];
}

/** What a task asks of the node that runs it. */
export interface Requirements {
  needs?: Record<string, NeedValue>;
  constraints?: readonly Constraint[];
  /** Execution slots the task occupies (default 1). */
  slots?: number;
  /** Memory the task needs free on the node. */
  memoryBytes?: number;
}

/** What the scheduler needs to know about a task. */
export interface TaskView extends Requirements {
  id: string;
  priority: Priority;
  affinityKey?: string;
  estimatedMs?: number;
  /** Absolute deadline (ms, same clock as `enqueuedAt`). */
  deadlineAt?: number;
  submitter?: string;
  enqueuedAt: number;
}

/** A source of uniform numbers in [0, 1); inject a seeded one for determinism. */
export type RandomSource = () => number;

/** Injected time and chance for decisions. */
export interface DecisionContext {
  now: number;
  random: RandomSource;
}
