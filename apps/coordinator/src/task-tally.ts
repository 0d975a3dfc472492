/**
 * How many tasks are in each unfinished state (and dead-lettered), and how many of those not leased yet
 * have each priority: the figures of `flotilla_tasks` and `flotilla_queue_depth`, kept as the work
 * happens so that a scrape of `/metrics` reads them in O(1) and sends Redis nothing. `TaskStore` owns one
 * and changes it from the replies of its scripts (a submit, each lease, each transition with the state it
 * left and the task's priority, each dead letter forgotten); a coordinator that becomes active sets it
 * once from a census of Redis (`TaskReads.census`) before it changes anything, and an emptied Redis sets
 * it to nothing. Only the store writes it.
 */
import type { TaskCensus } from "./store-records.js";

/** States whose tasks are not leased yet: those counted by priority too. */
const UNLEASED: ReadonlySet<string> = new Set(["queued", "waiting"]);
/** States counted: every unfinished one, and dead-lettered (ended tasks are counters of their own). */
const COUNTED: ReadonlySet<string> = new Set(["waiting", "queued", "leased", "running", "dead_lettered"]);

/** The running tally (see the module header). */
export class TaskTally {
  private readonly states = new Map<string, number>();
  private readonly priorities = new Map<string, number>();

  /** Starts again from a census (at takeover), or from nothing. */
  reset(census: TaskCensus = { states: {}, priorities: {} }): void {
    this.states.clear();
    this.priorities.clear();
    for (const [state, count] of Object.entries(census.states)) this.states.set(state, count);
    for (const [priority, count] of Object.entries(census.priorities)) this.priorities.set(priority, count);
  }

  /** A task entered `state` (a new task, or one that moved: see {@link moved}). */
  entered(state: string, priority: string): void {
    this.add(state, priority, 1);
  }

  /** A task moved from `previous` to `state`. */
  moved(previous: string, state: string, priority: string): void {
    if (previous === state) return;
    this.add(previous, priority, -1);
    this.add(state, priority, 1);
  }

  /** `count` tasks in `state` were deleted (dead letters purged or past their retention). */
  forgotten(state: string, count: number): void {
    const left = (this.states.get(state) ?? 0) - count;
    this.states.set(state, Math.max(0, left));
  }

  /** The figures now, in the census's shape. */
  census(): TaskCensus {
    return { states: Object.fromEntries(this.states), priorities: Object.fromEntries(this.priorities) };
  }

  private add(state: string, priority: string, delta: number): void {
    if (!COUNTED.has(state)) return;
    this.states.set(state, Math.max(0, (this.states.get(state) ?? 0) + delta));
    if (UNLEASED.has(state))
      this.priorities.set(priority, Math.max(0, (this.priorities.get(priority) ?? 0) + delta));
  }
}
