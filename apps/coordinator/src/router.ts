import type { TaskSpec } from "@flotilla/protocol";
import {
  type BalancingStrategy,
  createStrategy,
  DEFAULT_INFERENCE_RULES,
  describeUnmet,
  eligibleNodes,
  type InferenceRule,
  inferRequirements,
  type NeedValue,
  type NodeView,
  planRebalance,
  planSteal,
  queueScore,
  type Requirements,
  STRATEGY_NAMES,
  type StrategyName,
  type TaskView,
} from "@flotilla/scheduler";
import type { FleetNode } from "./fleet.js";

/**
 * Where a task goes: a node's queue (with its queue score), the waiting list with the reason, or nowhere
 * because every capable node's queue is full.
 */
export type Placement =
  | { kind: "node"; node: string; score: number }
  | { kind: "waiting"; reason: string }
  | { kind: "full"; reason: string };

/** Options of {@link Router}. */
export interface RouterOptions {
  strategy: string;
  loadThreshold: number;
  fallbackNode?: string;
  random: () => number;
  inferenceRules?: readonly InferenceRule[];
  /** A node's queue holds at most this many tasks (default 10,000). */
  maxQueuePerNode: number;
  /** Cost charged to a submitter per task without an estimate, for fair sharing (default 1 s). */
  fairShareQuantumMs: number;
}

/** The capability a node advertises for each `call` handler it serves. */
export function handlerCapability(handler: string): string {
  return `handler:${handler}`;
}

/** The capability only node `id` has: a task pinned with `node` needs it (so it is never stolen away). */
export function nodeCapability(id: string): string {
  return `node:${id}`;
}

/**
 * Every placement decision of the coordinator, made by @flotilla/scheduler: hard requirements (explicit
 * `needs` and `constraints`, plus needs inferred from the command), then the balancing strategy, then the
 * queue score that orders the node's queue.
 */
export class Router {
  private readonly strategy: BalancingStrategy;
  private readonly rules: readonly InferenceRule[];

  constructor(private readonly options: RouterOptions) {
    if (!(STRATEGY_NAMES as readonly string[]).includes(options.strategy)) {
      throw new RangeError(`unknown strategy ${options.strategy}; use one of ${STRATEGY_NAMES.join(", ")}`);
    }
    const strategyOptions: Parameters<typeof createStrategy>[1] = { loadThreshold: options.loadThreshold };
    if (options.fallbackNode !== undefined) strategyOptions.fallbackNodeId = options.fallbackNode;
    this.strategy = createStrategy(options.strategy as StrategyName, strategyOptions);
    this.rules = options.inferenceRules ?? DEFAULT_INFERENCE_RULES;
  }

  /** Per submitter, the virtual time its queued work reaches (start-time fair queuing). */
  private readonly virtualFinish = new Map<string, number>();

  /**
   * Fair share between submitters: a task is queued as if it arrived when its submitter's earlier work
   * would be done (`max(now, virtual finish)`), so one submitter's burst cannot push everyone else's work
   * back. Entries that fall behind the clock carry no information and are dropped.
   */
  private fairStart(submitter: string, estimatedMs: number | undefined, now: number): number {
    const start = Math.max(now, this.virtualFinish.get(submitter) ?? now);
    this.virtualFinish.set(submitter, start + (estimatedMs ?? this.options.fairShareQuantumMs));
    if (this.virtualFinish.size > 10_000) {
      for (const [key, finish] of this.virtualFinish) if (finish < now) this.virtualFinish.delete(key);
    }
    return start;
  }

  /** What a task needs of its node. */
  requirements(spec: TaskSpec): Requirements {
    const needs: Record<string, NeedValue> = {};
    if (spec.kind === "exec")
      Object.assign(needs, inferRequirements(spec.argv ?? spec.shell ?? "", this.rules));
    else needs[handlerCapability(spec.handler)] = true;
    Object.assign(needs, spec.needs ?? {});
    if (spec.node !== undefined) needs[nodeCapability(spec.node)] = true;
    const requirements: Requirements = { needs };
    if (spec.constraints) requirements.constraints = spec.constraints;
    return requirements;
  }

  taskView(id: string, spec: TaskSpec, enqueuedAt: number): TaskView {
    const view: TaskView = { id, priority: spec.priority, enqueuedAt, ...this.requirements(spec) };
    if (spec.affinityKey !== undefined) view.affinityKey = spec.affinityKey;
    if (spec.estimatedMs !== undefined) view.estimatedMs = spec.estimatedMs;
    if (spec.deadlineAt !== undefined) view.deadlineAt = spec.deadlineAt;
    if (spec.submitter !== undefined) view.submitter = spec.submitter;
    return view;
  }

  /** Picks a node for a task among `nodes`, or says why none fits. */
  place(spec: TaskSpec, nodes: readonly { node: FleetNode; view: NodeView }[], now: number): Placement {
    const task = this.taskView("new", spec, now);
    let views = nodes.map((entry) => entry.view);
    if (spec.node !== undefined) {
      views = views.filter((view) => view.id === spec.node);
      if (views.length === 0) return { kind: "waiting", reason: `node ${spec.node} is not in the fleet` };
    }
    const { eligible: capable, rejected } = eligibleNodes(task, views);
    // Bounded queues: a capable node whose queue is full takes nothing more for now.
    const eligible = capable.filter((view) => view.queued < this.options.maxQueuePerNode);
    if (capable.length > 0 && eligible.length === 0) {
      return {
        kind: "full",
        reason: `every node that can run it has ${this.options.maxQueuePerNode} tasks queued`,
      };
    }
    const chosen =
      eligible.length > 0
        ? this.strategy.select(eligible, task, { now, random: this.options.random })
        : undefined;
    if (!chosen) return { kind: "waiting", reason: describeUnmet(rejected, task) };
    const scored: Parameters<typeof queueScore>[0] = {
      priority: spec.priority,
      enqueuedAt: this.fairStart(spec.submitter ?? "", spec.estimatedMs, now),
    };
    if (spec.deadlineAt !== undefined) scored.deadlineAt = spec.deadlineAt;
    if (spec.estimatedMs !== undefined) scored.estimatedMs = spec.estimatedMs;
    return { kind: "node", node: chosen.id, score: queueScore(scored) };
  }

  /** Chooses a victim and the queued tasks an idle node should steal from it. */
  planSteal(
    thief: NodeView,
    victims: readonly {
      node: NodeView;
      tasks: readonly { id: string; spec: TaskSpec; enqueuedAt: number }[];
    }[],
    freeSlots: number,
  ): { victim: string; taskIds: string[] } | undefined {
    const plan = planSteal({
      thief,
      victims: victims.map((victim) => ({
        node: victim.node,
        queued: victim.tasks.map((task) => this.taskView(task.id, task.spec, task.enqueuedAt)),
      })),
      maxBatch: Math.max(1, freeSlots),
    });
    return plan ? { victim: plan.victim, taskIds: plan.tasks.map((task) => task.id) } : undefined;
  }

  /** Migrations of queued tasks from overloaded to underloaded nodes (each target can run what it gets). */
  planRebalance(
    nodes: readonly {
      node: NodeView;
      tasks: readonly { id: string; spec: TaskSpec; enqueuedAt: number }[];
      /** The node's queue, when `tasks` holds only some of it (see the scheduler's `queuedCount`). */
      queuedCount?: number;
    }[],
  ): { taskId: string; from: string; to: string }[] {
    return planRebalance({
      nodes: nodes.map((entry) => ({
        node: entry.node,
        queued: entry.tasks.map((task) => this.taskView(task.id, task.spec, task.enqueuedAt)),
        ...(entry.queuedCount === undefined ? {} : { queuedCount: entry.queuedCount }),
      })),
      maxMigrations: 50,
    });
  }
}
