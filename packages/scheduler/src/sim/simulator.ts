import { ewmaStep } from "../ewma.js";
import { LatencyHistogram } from "../metrics.js";
import { checkEligibility } from "../placement/eligibility.js";
import { BinaryHeap } from "../queues/heap.js";
import { queueScore } from "../queues/score.js";
import { seededRandom } from "../random.js";
import { planSteal } from "../stealing.js";
import type { BalancingStrategy } from "../strategies/strategy.js";
import type { Constraint, NeedValue, NodeAttributes, NodeView, Priority, TaskView } from "../types.js";

/** A simulated node. */
export interface SimNode {
  id: string;
  /** Work units per ms (1 = reference speed). */
  speed: number;
  slots: number;
  capabilities?: string[];
  attributes?: Partial<NodeAttributes>;
  /** The node dies at this time: running work is lost and requeued, queued work is redistributed. */
  failAt?: number;
  /** The node comes back at this time (after `failAt`). */
  recoverAt?: number;
}

/** A simulated task. */
export interface SimTask {
  id: string;
  arrivalAt: number;
  /** Run time at speed 1 (ms). */
  work: number;
  priority?: Priority;
  deadlineAt?: number;
  needs?: Record<string, NeedValue>;
  constraints?: Constraint[];
  /** What the scheduler believes the work is (default: exactly `work`). */
  estimatedMs?: number;
  affinityKey?: string;
  submitter?: string;
}

/**
 * How a node orders its local queue: arrival order, longest estimate first (good for makespan), or by
 * {@link queueScore} (critical first, aging, EDF for deadlines), as the coordinator's zsets do.
 */
export type QueueOrder = "fifo" | "longest_first" | "score";

/** Options of {@link simulate}. */
export interface SimOptions {
  nodes: readonly SimNode[];
  tasks: readonly SimTask[];
  /** Chooses the node for each arriving (or requeued) task, like the coordinator's router. */
  strategy: BalancingStrategy;
  /** Idle nodes steal with {@link planSteal} (default off). */
  stealing?: boolean | { threshold?: number; maxBatch?: number };
  /** Local queue order (default fifo). */
  queueOrder?: QueueOrder;
  /** Seed for the strategy's randomness (default 1). */
  seed?: number;
}

/** What happened to one task. */
export interface SimFinished {
  id: string;
  node: string;
  arrivalAt: number;
  startedAt: number;
  finishedAt: number;
  deadlineAt?: number;
}

/** Result of {@link simulate}. */
export interface SimResult {
  /** Time the last task finished (0 when none ran). */
  makespan: number;
  finished: SimFinished[];
  /** Tasks no node could ever run, with no node alive to take them, or lost at the end. */
  unplaced: string[];
  /** Steal operations and the tasks they moved. */
  steals: number;
  stolenTasks: number;
  /** Tasks restarted or redistributed because their node failed. */
  requeuedOnFailure: number;
  /** Wait between arrival and start. */
  queueLatency: LatencyHistogram;
  /** Busy slot-ms per node. */
  busyMs: Record<string, number>;
}

interface TaskState extends TaskView {
  sim: SimTask;
  estimatedMs: number;
  /** Sort key of the local queue (lower runs first). */
  rank: number;
}

interface NodeState {
  sim: SimNode;
  view: NodeView;
  queue: TaskState[];
  /** Running tasks and when each started. */
  running: Map<TaskState, number>;
  alive: boolean;
  busyMs: number;
}

enum EventKind {
  Fail = 0,
  Recover = 1,
  Complete = 2,
  Arrive = 3,
}

interface SimEvent {
  time: number;
  kind: EventKind;
  task?: TaskState;
  node?: NodeState;
  startedAt?: number;
  /** Bumped on failure so completions of lost runs are ignored (a lease epoch, in effect). */
  epoch?: number;
}

const DEFAULT_ATTRIBUTES: NodeAttributes = {
  os: "linux",
  arch: "x64",
  cores: 8,
  memoryBytes: 16 * 2 ** 30,
  docker: false,
  freeDiskBytes: 100 * 2 ** 30,
  labels: {},
};

/**
 * A deterministic discrete-event fleet simulation. Tasks arrive, the strategy places each on a node's local
 * queue (through the same `BalancingStrategy` interface the coordinator uses, after the same eligibility
 * check), nodes run up to `slots` tasks at `speed`, idle nodes steal with `planSteal`, and failing nodes
 * lose their running work, which is requeued elsewhere. Same inputs and seed, same result.
 *
 * The node views the strategy sees are exact and current; `load1` is the node's runnable work per slot
 * (running plus queued, divided by slots) and `ewmaRunMs` the smoothed observed run time of work of
 * reference size 1000 (so it reflects speed, not task mix).
 */
export function simulate(options: SimOptions): SimResult {
  const random = seededRandom(options.seed ?? 1);
  const order = options.queueOrder ?? "fifo";
  const stealOptions =
    options.stealing === true ? {} : options.stealing === false ? undefined : options.stealing;
  const events = new BinaryHeap<SimEvent>((a, b) => a.time - b.time || a.kind - b.kind);
  const nodes: NodeState[] = options.nodes.map((sim) => ({
    sim,
    view: {
      id: sim.id,
      capabilities: sim.capabilities ?? [],
      attributes: { ...DEFAULT_ATTRIBUTES, ...sim.attributes },
      slotsTotal: sim.slots,
      slotsUsed: 0,
      queued: 0,
      load1: 0,
      healthy: true,
      weight: sim.speed * sim.slots,
      speed: sim.speed,
      backlogMs: 0,
    },
    queue: [],
    running: new Map(),
    alive: true,
    busyMs: 0,
  }));
  const byView = new Map(nodes.map((node) => [node.view, node]));
  const epochs = new Map<string, number>();
  const result: SimResult = {
    makespan: 0,
    finished: [],
    unplaced: [],
    steals: 0,
    stolenTasks: 0,
    requeuedOnFailure: 0,
    queueLatency: new LatencyHistogram(),
    busyMs: {},
  };
  const parked: TaskState[] = [];
  let now = 0;
  const ctx = { now: 0, random };
  let anyRequirements = false;

  for (const node of nodes) {
    if (node.sim.failAt !== undefined) events.push({ time: node.sim.failAt, kind: EventKind.Fail, node });
    if (node.sim.recoverAt !== undefined)
      events.push({ time: node.sim.recoverAt, kind: EventKind.Recover, node });
  }
  for (const sim of options.tasks) {
    const task: TaskState = {
      id: sim.id,
      priority: sim.priority ?? "normal",
      enqueuedAt: sim.arrivalAt,
      estimatedMs: sim.estimatedMs ?? sim.work,
      sim,
      rank: 0,
    };
    if (sim.deadlineAt !== undefined) task.deadlineAt = sim.deadlineAt;
    if (sim.needs !== undefined) task.needs = sim.needs;
    if (sim.constraints !== undefined) task.constraints = sim.constraints;
    if (sim.affinityKey !== undefined) task.affinityKey = sim.affinityKey;
    if (sim.submitter !== undefined) task.submitter = sim.submitter;
    task.rank = order === "longest_first" ? -task.estimatedMs : order === "score" ? queueScore(task) : 0;
    if (sim.needs !== undefined || sim.constraints !== undefined) anyRequirements = true;
    events.push({ time: sim.arrivalAt, kind: EventKind.Arrive, task });
  }

  const refresh = (node: NodeState): void => {
    const view = node.view;
    view.slotsUsed = node.running.size;
    view.queued = node.queue.length;
    view.load1 = (view.slotsUsed + view.queued) / view.slotsTotal;
    let backlog = 0;
    for (const task of node.queue) backlog += task.estimatedMs;
    for (const [task, startedAt] of node.running) {
      backlog += Math.max(0, task.estimatedMs - (now - startedAt) * node.sim.speed);
    }
    view.backlogMs = backlog;
  };

  const enqueueOn = (node: NodeState, task: TaskState): void => {
    // Sorted insert by rank, stable; the tail holds what the node would run last (and what thieves take).
    let index = node.queue.length;
    while (index > 0 && (node.queue[index - 1] as TaskState).rank > task.rank) index--;
    node.queue.splice(index, 0, task);
  };

  const candidates = (task: TaskState): NodeView[] => {
    const views: NodeView[] = [];
    for (const node of nodes) {
      if (!node.alive) continue;
      if (anyRequirements && !checkEligibility(task, node.view, { ignoreHealth: true }).eligible) continue;
      views.push(node.view);
    }
    return views;
  };

  const startWork = (node: NodeState): void => {
    while (node.alive && node.running.size < node.sim.slots && node.queue.length > 0) {
      const task = node.queue.shift() as TaskState;
      node.running.set(task, now);
      result.queueLatency.record(now - task.sim.arrivalAt);
      events.push({
        time: now + task.sim.work / node.sim.speed,
        kind: EventKind.Complete,
        task,
        node,
        startedAt: now,
        epoch: epochs.get(node.sim.id) ?? 0,
      });
    }
    refresh(node);
  };

  const dispatch = (task: TaskState): void => {
    ctx.now = now;
    const views = candidates(task);
    const chosen = views.length === 0 ? undefined : options.strategy.select(views, task, ctx);
    if (chosen === undefined) {
      parked.push(task);
      return;
    }
    const node = byView.get(chosen) as NodeState;
    enqueueOn(node, task);
    startWork(node);
  };

  const trySteal = (thief: NodeState): void => {
    if (stealOptions === undefined || !thief.alive || thief.queue.length > 0) return;
    if (thief.running.size >= thief.sim.slots) return;
    const victims = [];
    for (const node of nodes) {
      if (node !== thief && node.alive && node.queue.length > 0)
        victims.push({ node: node.view, queued: node.queue });
    }
    if (victims.length === 0) return;
    const plan = planSteal({
      thief: thief.view,
      victims,
      ...(stealOptions.threshold === undefined ? {} : { threshold: stealOptions.threshold }),
      maxBatch: stealOptions.maxBatch ?? Number.POSITIVE_INFINITY,
    });
    if (plan === undefined) return;
    const victim = nodes.find((node) => node.sim.id === plan.victim) as NodeState;
    const taken = new Set(plan.tasks);
    victim.queue = victim.queue.filter((task) => !taken.has(task));
    refresh(victim);
    for (const task of plan.tasks) enqueueOn(thief, task as TaskState);
    result.steals++;
    result.stolenTasks += plan.tasks.length;
    startWork(thief);
  };

  for (let event = events.pop(); event !== undefined; event = events.pop()) {
    now = event.time;
    switch (event.kind) {
      case EventKind.Arrive:
        dispatch(event.task as TaskState);
        break;
      case EventKind.Complete: {
        const node = event.node as NodeState;
        const task = event.task as TaskState;
        if ((epochs.get(node.sim.id) ?? 0) !== event.epoch || !node.running.has(task)) break;
        node.running.delete(task);
        const ran = now - (event.startedAt as number);
        node.busyMs += ran;
        node.view.ewmaRunMs = ewmaStep(node.view.ewmaRunMs, (ran / task.sim.work) * 1000, 0.3);
        const finished: SimFinished = {
          id: task.id,
          node: node.sim.id,
          arrivalAt: task.sim.arrivalAt,
          startedAt: event.startedAt as number,
          finishedAt: now,
        };
        if (task.deadlineAt !== undefined) finished.deadlineAt = task.deadlineAt;
        result.finished.push(finished);
        if (now > result.makespan) result.makespan = now;
        startWork(node);
        trySteal(node);
        break;
      }
      case EventKind.Fail: {
        const node = event.node as NodeState;
        if (!node.alive) break;
        node.alive = false;
        node.view.healthy = false;
        epochs.set(node.sim.id, (epochs.get(node.sim.id) ?? 0) + 1);
        const orphans = [...node.running.keys(), ...node.queue];
        node.running.clear();
        node.queue = [];
        refresh(node);
        result.requeuedOnFailure += orphans.length;
        for (const task of orphans) dispatch(task);
        break;
      }
      case EventKind.Recover: {
        const node = event.node as NodeState;
        if (node.alive) break;
        node.alive = true;
        node.view.healthy = true;
        const waiting = parked.splice(0);
        for (const task of waiting) dispatch(task);
        trySteal(node);
        break;
      }
    }
  }
  result.unplaced = parked.map((task) => task.id);
  for (const node of nodes) result.busyMs[node.sim.id] = node.busyMs;
  return result;
}

/** The makespan lower bound: `max(total work / total capacity, longest task / fastest speed)`. */
export function makespanLowerBound(nodes: readonly SimNode[], tasks: readonly SimTask[]): number {
  let capacity = 0;
  let fastest = 0;
  for (const node of nodes) {
    capacity += node.speed * node.slots;
    fastest = Math.max(fastest, node.speed);
  }
  let total = 0;
  let longest = 0;
  let firstArrival = Number.POSITIVE_INFINITY;
  for (const task of tasks) {
    total += task.work;
    longest = Math.max(longest, task.work);
    firstArrival = Math.min(firstArrival, task.arrivalAt);
  }
  if (tasks.length === 0 || capacity === 0) return 0;
  return firstArrival + Math.max(total / capacity, longest / fastest);
}
