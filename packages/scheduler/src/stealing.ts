import { checkEligibility } from "./placement/eligibility.js";
import type { NodeView, TaskView } from "./types.js";

/** A node and its local queue, head (next to run) first. */
export interface NodeQueue {
  node: NodeView;
  queued: readonly TaskView[];
  /**
   * How many tasks the node has queued, when `queued` lists only some of them (or none: a node
   * {@link planRebalance} may only move work to): its load counts them all, only those listed may move.
   * Default: `queued.length`.
   */
  queuedCount?: number;
}

/** Input of {@link planSteal}. */
export interface StealInput {
  thief: NodeView;
  victims: readonly NodeQueue[];
  /** Steal only from a victim with at least this many tasks the thief can run (default 1). */
  threshold?: number;
  /** Never take more than this many tasks (default: the thief's slot count). */
  maxBatch?: number;
}

/** A steal: which node to take from and which of its tasks. */
export interface StealPlan {
  victim: string;
  tasks: TaskView[];
}

/** Whether `node` could run `task` (requirements and resources; the node's health is checked too). */
export function canRun(node: NodeView, task: TaskView): boolean {
  return checkEligibility(task, node).eligible;
}

/**
 * Plans a steal for an idle node. The victim is the most loaded node (queued plus running, per slot) that
 * has at least `threshold` queued tasks the thief can run (and, see below, would gain from running); the batch is up to half of those (at least one),
 * at most `maxBatch`, taken from the tail of the victim's queue so the victim keeps the work it would start
 * next. Only tasks the thief can run are ever chosen. When both nodes report `speed` and tasks carry
 * `estimatedMs`, a task is taken only if the thief would finish it before the victim would (a slow node
 * does not steal what a fast one is about to run). Undefined when nothing is worth stealing.
 */
export function planSteal(input: StealInput): StealPlan | undefined {
  const { thief } = input;
  const threshold = Math.max(1, input.threshold ?? 1);
  const maxBatch = Math.max(1, input.maxBatch ?? thief.slotsTotal);
  const candidates: { victim: NodeQueue; load: number }[] = [];
  for (const victim of input.victims) {
    if (victim.node.id === thief.id || victim.queued.length < threshold) continue;
    const load = (victim.node.slotsUsed + victim.queued.length) / Math.max(1, victim.node.slotsTotal);
    candidates.push({ victim, load });
  }
  // Most loaded first; when nothing there is worth moving, the next victim may still have something.
  candidates.sort((a, b) => b.load - a.load);
  for (const { victim } of candidates) {
    const runnable = victim.queued.filter((task) => canRun(thief, task));
    if (runnable.length < threshold) continue;
    const batch = Math.min(maxBatch, Math.max(1, Math.floor(runnable.length / 2)));
    const worthIt = moveHelps(thief, victim);
    const tasks: TaskView[] = [];
    for (let i = runnable.length - 1; i >= 0 && tasks.length < batch; i--) {
      const task = runnable[i] as TaskView;
      if (worthIt(task)) tasks.push(task);
    }
    if (tasks.length > 0) return { victim: victim.node.id, tasks: tasks.reverse() };
  }
  return undefined;
}

/**
 * When speeds and estimates are known, a task is worth stealing only if the idle thief would finish it
 * before the victim would (the victim must first get through the work ahead of it). Without that
 * information every runnable task is worth it.
 */
function moveHelps(thief: NodeView, victim: NodeQueue): (task: TaskView) => boolean {
  const victimSpeed = victim.node.speed;
  const thiefSpeed = thief.speed;
  if (victimSpeed === undefined || thiefSpeed === undefined) return () => true;
  const aheadOf = new Map<TaskView, number>();
  let queuedMs = 0;
  for (const task of victim.queued) {
    aheadOf.set(task, queuedMs);
    queuedMs += task.estimatedMs ?? 0;
  }
  const runningMs = Math.max(0, (victim.node.backlogMs ?? queuedMs) - queuedMs);
  const victimRate = victimSpeed * Math.max(1, victim.node.slotsTotal);
  return (task) => {
    const estimate = task.estimatedMs;
    if (estimate === undefined) return true;
    const onVictim = (runningMs + (aheadOf.get(task) ?? 0)) / victimRate + estimate / victimSpeed;
    return estimate / thiefSpeed < onVictim;
  };
}

/** One planned move of a queued task. */
export interface Migration {
  taskId: string;
  from: string;
  to: string;
}

/** How much more loaded per slot a node must be than another before {@link planRebalance} moves work. */
export const REBALANCE_TOLERANCE = 1;

/** Input of {@link planRebalance}. */
export interface RebalanceInput {
  nodes: readonly NodeQueue[];
  /** Move only while the source's per-slot load exceeds the target's by more than this (default 1). */
  tolerance?: number;
  /** Upper bound on migrations in one plan (default 100). */
  maxMigrations?: number;
}

/**
 * Plans migrations of queued tasks from overloaded to underloaded nodes. Greedy: repeatedly take the most
 * loaded node (queued plus running, per slot) and move its last queued task to the least loaded node that
 * can run it, while that narrows the gap by more than `tolerance`. Every target can run what it receives.
 */
export function planRebalance(input: RebalanceInput): Migration[] {
  const tolerance = input.tolerance ?? REBALANCE_TOLERANCE;
  const maxMigrations = input.maxMigrations ?? 100;
  const state = input.nodes.map((entry) => ({
    node: entry.node,
    queued: [...entry.queued],
    slots: Math.max(1, entry.node.slotsTotal),
    count: entry.node.slotsUsed + (entry.queuedCount ?? entry.queued.length),
  }));
  const migrations: Migration[] = [];
  const exhausted = new Set<string>();
  // A task moves at most once per plan: two hops would cost two transfers for one placement.
  const migrated = new Set<TaskView>();
  while (migrations.length < maxMigrations) {
    let source: (typeof state)[number] | undefined;
    for (const entry of state) {
      if (exhausted.has(entry.node.id) || entry.queued.length === 0) continue;
      if (source === undefined || entry.count / entry.slots > source.count / source.slots) source = entry;
    }
    if (source === undefined) break;
    let moved = false;
    for (let i = source.queued.length - 1; i >= 0 && !moved; i--) {
      const task = source.queued[i] as TaskView;
      if (migrated.has(task)) continue;
      let target: (typeof state)[number] | undefined;
      for (const entry of state) {
        if (entry === source || !canRun(entry.node, task)) continue;
        if (target === undefined || entry.count / entry.slots < target.count / target.slots) target = entry;
      }
      if (target === undefined) continue;
      const gapAfter = (source.count - 1) / source.slots - (target.count + 1) / target.slots;
      if (source.count / source.slots - target.count / target.slots <= tolerance || gapAfter < -tolerance)
        continue;
      source.queued.splice(i, 1);
      source.count--;
      target.queued.push(task);
      target.count++;
      migrated.add(task);
      migrations.push({ taskId: task.id, from: source.node.id, to: target.node.id });
      moved = true;
    }
    if (!moved) exhausted.add(source.node.id);
  }
  return migrations;
}
