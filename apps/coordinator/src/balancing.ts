/**
 * Moving queued work between nodes. `Balancer.steal` lets a node with free slots and an empty queue take
 * up to half of what it can run from the most loaded node's queue (one steal script); `rebalance`, run
 * every `rebalanceIntervalMs` by the server, migrates queued work from overloaded to underloaded nodes
 * (reading Redis only when the counts kept here say a plan could move something, and then only the most
 * loaded nodes' queues), lets idle nodes steal and moves draining nodes' queues away. It keeps no state of its own; of a node it
 * changes `queued` (both sides of a move) and `stats.steals`. Dispatch calls `steal` when a node it
 * would lease to has nothing queued.
 */
import type { TaskSpec } from "@flotilla/protocol";
import { REBALANCE_TOLERANCE } from "@flotilla/scheduler";
import type { CoordinatorContext, CoordinatorParts } from "./context.js";
import { type FleetNode, inQueue, slotsUsed, toNodeView } from "./fleet.js";
import type { StoredTask } from "./store.js";

/** Queued tasks read from each node's queue for a steal or a rebalance plan. */
const REBALANCE_SAMPLE = 64;

/** Nodes whose queues a rebalance reads: the most loaded, the only ones its plan moves work from. */
const REBALANCE_SOURCES = 8;

/** A node's load as a rebalance plan counts it: running plus the queued tasks it would read, per slot. */
function planLoad(node: FleetNode): number {
  return (slotsUsed(node) + sampled(node)) / Math.max(1, node.slots);
}

/** The queued tasks of a node a rebalance reads (and counts). */
function sampled(node: FleetNode): number {
  return Math.min(Math.max(0, inQueue(node)), REBALANCE_SAMPLE);
}

/**
 * Whether a rebalance plan could move anything, from the counts kept here: some node with work queued
 * must be loaded more than `REBALANCE_TOLERANCE` beyond the least loaded one, or the scheduler moves
 * nothing. Without this, every rebalance read up to 64 queued tasks of every node from Redis even when
 * the queues were even, which with 200 busy nodes was 12,800 task reads every two seconds (and most of an
 * otherwise idle coordinator's CPU).
 */
export function mayMigrate(nodes: readonly FleetNode[]): boolean {
  let mostLoaded = Number.NEGATIVE_INFINITY;
  let leastLoaded = Number.POSITIVE_INFINITY;
  for (const node of nodes) {
    const load = planLoad(node);
    if (sampled(node) > 0 && load > mostLoaded) mostLoaded = load;
    if (load < leastLoaded) leastLoaded = load;
  }
  return mostLoaded - leastLoaded > REBALANCE_TOLERANCE;
}

/**
 * The nodes a rebalance reads the queues of: the `REBALANCE_SOURCES` most loaded with work queued. The
 * others enter the plan as targets only, with their queues counted but not read.
 */
export function rebalanceSources(nodes: readonly FleetNode[]): Set<string> {
  const loaded = nodes.filter((node) => sampled(node) > 0).sort((a, b) => planLoad(b) - planLoad(a));
  return new Set(loaded.slice(0, REBALANCE_SOURCES).map((node) => node.id));
}

/** Work stealing and periodic rebalancing. */
export class Balancer {
  constructor(
    private readonly ctx: CoordinatorContext,
    private readonly parts: Pick<CoordinatorParts, "dispatch" | "detector">,
  ) {}

  /**
   * Work stealing: `thiefId` has free slots and an empty queue; move up to half of what it can run from the
   * most loaded eligible node's queue (one Lua script), then dispatch.
   */
  async steal(thiefId: string): Promise<void> {
    const ctx = this.ctx;
    const thief = ctx.nodes.get(thiefId);
    if (thief?.health !== "healthy" || thief.draining || thief.inflight >= thief.slots) return;
    const now = ctx.options.clock();
    const candidates = [...ctx.nodes.values()]
      .filter((node) => node.id !== thiefId && inQueue(node) > 0)
      .sort((a, b) => inQueue(b) - inQueue(a))
      .slice(0, 3);
    if (candidates.length === 0) return;
    const victims = [];
    for (const victim of candidates) {
      const ids = await ctx.db.queuedIds(victim.id, REBALANCE_SAMPLE);
      const tasks = await ctx.db.getTasks(ids);
      victims.push({ victim, tasks });
    }
    const plan = ctx.router.planSteal(
      toNodeView(thief, ctx.breakers.routingState(thiefId, now)),
      victims.map(({ victim, tasks }) => ({
        node: toNodeView(victim, ctx.breakers.routingState(victim.id, now)),
        tasks: tasks.map(queuedTask),
      })),
      thief.slots - thief.inflight,
    );
    if (!plan) return;
    const moved = await ctx.db.steal(plan.victim, thiefId, plan.taskIds, now);
    if (moved.length === 0) return;
    const victim = ctx.nodes.get(plan.victim);
    if (victim) victim.queued = Math.max(0, victim.queued - moved.length);
    thief.queued += moved.length;
    thief.stats.steals += moved.length;
    ctx.metrics.steals.inc(moved.length);
    ctx.log.debug({ thief: thiefId, victim: plan.victim, moved: moved.length }, "stole queued work");
    await this.parts.dispatch.dispatch(thiefId);
  }

  /** Periodic rebalance: migrates queued work from overloaded nodes to nodes with room. */
  async rebalance(): Promise<void> {
    const ctx = this.ctx;
    const now = ctx.options.clock();
    const live = [...ctx.nodes.values()].filter((node) => node.health === "healthy" && !node.draining);
    if (live.length > 1 && mayMigrate(live)) {
      const entries = [];
      const sources = rebalanceSources(live);
      for (const node of live) {
        const view = toNodeView(node, ctx.breakers.routingState(node.id, now));
        if (!sources.has(node.id)) {
          entries.push({ node: view, tasks: [], queuedCount: sampled(node) });
          continue;
        }
        const tasks = await ctx.db.getTasks(await ctx.db.queuedIds(node.id, REBALANCE_SAMPLE));
        entries.push({ node: view, tasks: tasks.map(queuedTask) });
      }
      const moves = new Map<string, string[]>();
      for (const migration of ctx.router.planRebalance(entries)) {
        const key = `${migration.from}\u0000${migration.to}`;
        moves.set(key, [...(moves.get(key) ?? []), migration.taskId]);
      }
      for (const [key, taskIds] of moves) {
        const [from, to] = key.split("\u0000") as [string, string];
        const moved = await ctx.db.steal(from, to, taskIds, now);
        const source = ctx.nodes.get(from);
        const target = ctx.nodes.get(to);
        if (source) source.queued = Math.max(0, source.queued - moved.length);
        if (target) target.queued += moved.length;
        ctx.metrics.migrations.inc(moved.length);
        if (moved.length > 0) await this.parts.dispatch.dispatch(to);
      }
    }
    for (const node of ctx.nodes.values()) {
      if (node.health === "healthy" && !node.draining && node.inflight < node.slots && node.queued === 0) {
        await this.steal(node.id);
      }
    }
    // Queued work on draining nodes goes elsewhere.
    for (const node of ctx.nodes.values()) {
      if (node.draining && node.queued > 0) await this.parts.detector.evacuateQueue(node.id, "node draining");
    }
  }
}

/** A queued task as the scheduler's steal and rebalance plans take it. */
function queuedTask(task: StoredTask): { id: string; spec: TaskSpec; enqueuedAt: number } {
  return { id: task.id, spec: task.spec as TaskSpec, enqueuedAt: task.createdAt };
}
