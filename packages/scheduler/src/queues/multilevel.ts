import type { Priority } from "../types.js";
import { BinaryHeap } from "./heap.js";

/** What the multilevel queue needs from an entry. */
export interface PrioritisedEntry {
  priority: Priority;
  /** When the entry was queued (ms, same clock as `now`). */
  enqueuedAt: number;
}

/** The non-critical levels, which share dispatches by weight. */
export type SharedPriority = Exclude<Priority, "critical">;

/** Configuration of {@link MultilevelQueue}. */
export interface MultilevelConfig {
  /**
   * Dispatch shares. `critical` is listed for completeness but is strict: it always goes first. The other
   * three split the remaining dispatches in proportion to their weights (stride scheduling).
   */
  weights: Record<Priority, number>;
  /**
   * The aging bound: once an entry has waited this long it is overdue and is dispatched before every
   * non-overdue, non-critical entry, earliest overdue moment first. `Infinity` disables aging for a level
   * (high needs none: it already has the largest share).
   */
  maxWaitMs: Record<SharedPriority, number>;
}

/** Constructor options of {@link MultilevelQueue}: any subset of the configuration. */
export interface MultilevelOptions {
  weights?: Partial<Record<Priority, number>>;
  maxWaitMs?: Partial<Record<SharedPriority, number>>;
}

/** Defaults: weights 0.4/0.3/0.2/0.1; normal overdue after 30 s, low after 60 s. */
export const DEFAULT_MULTILEVEL_CONFIG: MultilevelConfig = {
  weights: { critical: 0.4, high: 0.3, normal: 0.2, low: 0.1 },
  maxWaitMs: { high: Number.POSITIVE_INFINITY, normal: 30_000, low: 60_000 },
};

const SHARED: readonly SharedPriority[] = ["high", "normal", "low"];

/** Serialised {@link MultilevelQueue}: configuration, stride state and entries (oldest first per level). */
export interface MultilevelQueueJSON<T> {
  config: MultilevelConfig;
  pass: Record<SharedPriority, number>;
  virtualTime: number;
  entries: T[];
}

const byEnqueuedAt = (a: PrioritisedEntry, b: PrioritisedEntry): number => a.enqueuedAt - b.enqueuedAt;

/**
 * A multilevel priority queue.
 *
 * Order of service on each {@link dequeue}:
 * 1. `critical` entries, oldest first, whenever any is queued;
 * 2. overdue entries (waited at least `maxWaitMs[priority]`), earliest overdue moment first;
 * 3. otherwise `high`/`normal`/`low` by stride scheduling: each level has a pass value advanced by
 *    `1 / weight` per dispatch, and the non-empty level with the smallest pass goes. Over any backlogged
 *    interval each level gets its weight's share of dispatches, deterministically.
 *
 * Guarantee (aging bound): with no critical work queued, a dispatch at least every `Δ` ms, and overdue
 * moments (`enqueuedAt + maxWaitMs`) of the aging entries at least `Δ` apart (aging work arrives no faster
 * than it can be served), every aging entry waits at most `maxWaitMs[priority] + Δ`, however much high work keeps
 * arriving: earlier overdue entries are all dispatched by their own bound, which is no later than this one's
 * overdue moment, so the first dispatch after it takes this one. Each level is FIFO, so within a
 * level the head is always the oldest and the overdue check costs O(1); push and dequeue are O(log n).
 */
export class MultilevelQueue<T extends PrioritisedEntry> {
  readonly #config: MultilevelConfig;
  readonly #levels: Record<Priority, BinaryHeap<T>>;
  readonly #pass: Record<SharedPriority, number> = { high: 0, normal: 0, low: 0 };
  #virtualTime = 0;

  constructor(config: MultilevelOptions = {}) {
    this.#config = {
      weights: { ...DEFAULT_MULTILEVEL_CONFIG.weights, ...config.weights },
      maxWaitMs: { ...DEFAULT_MULTILEVEL_CONFIG.maxWaitMs, ...config.maxWaitMs },
    };
    for (const level of SHARED) {
      const weight = this.#config.weights[level];
      if (!(weight > 0) || !Number.isFinite(weight)) {
        throw new RangeError(`weight of ${level} must be a positive finite number, got ${weight}`);
      }
      if (!(this.#config.maxWaitMs[level] >= 0)) {
        throw new RangeError(`maxWaitMs of ${level} must be >= 0`);
      }
    }
    this.#levels = {
      critical: new BinaryHeap<T>(byEnqueuedAt),
      high: new BinaryHeap<T>(byEnqueuedAt),
      normal: new BinaryHeap<T>(byEnqueuedAt),
      low: new BinaryHeap<T>(byEnqueuedAt),
    };
  }

  /** Number of queued entries. */
  get size(): number {
    const levels = this.#levels;
    return levels.critical.size + levels.high.size + levels.normal.size + levels.low.size;
  }

  /** Number of queued entries of one priority. */
  sizeOf(priority: Priority): number {
    return this.#levels[priority].size;
  }

  /** Queues an entry in O(log n). */
  push(entry: T): void {
    const level = this.#levels[entry.priority];
    if (entry.priority !== "critical" && level.size === 0) {
      // A level that was idle must not bank credit for the time it had nothing to send.
      this.#pass[entry.priority] = Math.max(this.#pass[entry.priority], this.#virtualTime);
    }
    level.push(entry);
  }

  /** Removes and returns the next entry to dispatch at time `now`. */
  dequeue(now: number): T | undefined {
    const levels = this.#levels;
    if (levels.critical.size > 0) return levels.critical.pop();
    const level = this.#overdueLevel(now) ?? this.#strideLevel();
    if (level === undefined) return undefined;
    this.#virtualTime = this.#pass[level];
    this.#pass[level] += 1 / this.#config.weights[level];
    return levels[level].pop();
  }

  /** The priority the next {@link dequeue} at `now` would serve, without dequeuing. */
  peekLevel(now: number): Priority | undefined {
    if (this.#levels.critical.size > 0) return "critical";
    return this.#overdueLevel(now) ?? this.#strideLevel();
  }

  /** Removes the first entry matching `predicate` (O(n)); returns it when found. */
  remove(predicate: (entry: T) => boolean): T | undefined {
    for (const level of ["critical", ...SHARED] as const) {
      const removed = this.#levels[level].remove(predicate);
      if (removed !== undefined) return removed;
    }
    return undefined;
  }

  /** Every queued entry, in no particular order. */
  entries(): T[] {
    return (["critical", ...SHARED] as const).flatMap((level) => [...this.#levels[level].values()]);
  }

  /**
   * The queue as JSON-ready data. `Infinity` aging bounds do not survive `JSON.stringify` (they become
   * null); {@link fromJSON} reads null back as Infinity.
   */
  toJSON(): MultilevelQueueJSON<T> {
    return {
      config: structuredClone(this.#config),
      pass: { ...this.#pass },
      virtualTime: this.#virtualTime,
      entries: (["critical", ...SHARED] as const).flatMap((level) => this.#levels[level].toSortedArray()),
    };
  }

  /** Restores a queue saved with {@link toJSON}; dispatch order and shares continue where they were. */
  static fromJSON<T extends PrioritisedEntry>(json: MultilevelQueueJSON<T>): MultilevelQueue<T> {
    const maxWaitMs = { ...json.config.maxWaitMs };
    for (const level of SHARED) maxWaitMs[level] ??= Number.POSITIVE_INFINITY;
    const queue = new MultilevelQueue<T>({ weights: json.config.weights, maxWaitMs });
    for (const entry of json.entries) queue.#levels[entry.priority].push(entry);
    Object.assign(queue.#pass, json.pass);
    queue.#virtualTime = json.virtualTime;
    return queue;
  }

  #overdueLevel(now: number): SharedPriority | undefined {
    let best: SharedPriority | undefined;
    let bestMoment = Number.POSITIVE_INFINITY;
    for (const level of SHARED) {
      const head = this.#levels[level].peek();
      if (head === undefined) continue;
      const overdueAt = head.enqueuedAt + this.#config.maxWaitMs[level];
      if (overdueAt <= now && overdueAt < bestMoment) {
        best = level;
        bestMoment = overdueAt;
      }
    }
    return best;
  }

  #strideLevel(): SharedPriority | undefined {
    let best: SharedPriority | undefined;
    for (const level of SHARED) {
      if (this.#levels[level].size === 0) continue;
      if (best === undefined || this.#pass[level] < this.#pass[best]) best = level;
    }
    return best;
  }
}
