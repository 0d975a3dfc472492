import { BinaryHeap } from "./heap.js";

/** Options of {@link WeightedFairQueue}. */
export interface WeightedFairOptions {
  /** Per-submitter weights; a submitter's share of service is proportional to its weight. */
  weights?: Record<string, number>;
  /** Weight of submitters not listed (default 1). */
  defaultWeight?: number;
}

/** Serialised {@link WeightedFairQueue}. */
export interface WeightedFairQueueJSON<T> {
  weights: Record<string, number>;
  defaultWeight: number;
  virtualTime: number;
  lastFinish: Record<string, number>;
  /** Queued items in service order. */
  items: { submitter: string; item: T; finishTag: number }[];
}

interface Tagged<T> {
  submitter: string;
  item: T;
  finishTag: number;
}

/**
 * Weighted fair queuing across submitters (self-clocked: the virtual time is the finish tag of the item
 * last served). Each item gets `finish = max(virtualTime, lastFinish[submitter]) + cost / weight`, and the
 * smallest finish tag is served first, so backlogged submitters receive service in proportion to their
 * weights and a newly active submitter cannot claim credit for the time it was idle. O(log n) per op.
 */
export class WeightedFairQueue<T> {
  readonly #heap = new BinaryHeap<Tagged<T>>((a, b) => a.finishTag - b.finishTag);
  readonly #lastFinish = new Map<string, number>();
  readonly #weights: Record<string, number>;
  readonly #defaultWeight: number;
  #virtualTime = 0;

  constructor(options: WeightedFairOptions = {}) {
    this.#weights = { ...options.weights };
    this.#defaultWeight = options.defaultWeight ?? 1;
    for (const [submitter, weight] of [
      ...Object.entries(this.#weights),
      ["(default)", this.#defaultWeight],
    ]) {
      if (!(Number(weight) > 0)) throw new RangeError(`weight of ${submitter} must be > 0`);
    }
  }

  /** Number of queued items. */
  get size(): number {
    return this.#heap.size;
  }

  /** Sets or changes a submitter's weight (applies to items queued from now on). */
  setWeight(submitter: string, weight: number): void {
    if (!(weight > 0)) throw new RangeError(`weight of ${submitter} must be > 0`);
    this.#weights[submitter] = weight;
  }

  /** Queues `item` for `submitter`; `cost` is its expected service (e.g. estimated ms), default 1. */
  enqueue(submitter: string, item: T, cost = 1): void {
    const weight = this.#weights[submitter] ?? this.#defaultWeight;
    const start = Math.max(this.#virtualTime, this.#lastFinish.get(submitter) ?? 0);
    const finishTag = start + cost / weight;
    this.#lastFinish.set(submitter, finishTag);
    this.#heap.push({ submitter, item, finishTag });
  }

  /** The queue as JSON-ready data. */
  toJSON(): WeightedFairQueueJSON<T> {
    return {
      weights: { ...this.#weights },
      defaultWeight: this.#defaultWeight,
      virtualTime: this.#virtualTime,
      lastFinish: Object.fromEntries(this.#lastFinish),
      items: this.#heap.toSortedArray().map((tagged) => ({ ...tagged })),
    };
  }

  /** Restores a queue saved with {@link toJSON}; service continues in the same order. */
  static fromJSON<T>(json: WeightedFairQueueJSON<T>): WeightedFairQueue<T> {
    const queue = new WeightedFairQueue<T>({ weights: json.weights, defaultWeight: json.defaultWeight });
    queue.#virtualTime = json.virtualTime;
    for (const [submitter, finish] of Object.entries(json.lastFinish))
      queue.#lastFinish.set(submitter, finish);
    for (const tagged of json.items) queue.#heap.push({ ...tagged });
    return queue;
  }

  /** Serves the item with the smallest finish tag. */
  dequeue(): { submitter: string; item: T } | undefined {
    const next = this.#heap.pop();
    if (next === undefined) return undefined;
    this.#virtualTime = next.finishTag;
    return { submitter: next.submitter, item: next.item };
  }
}
