import { BinaryHeap } from "./heap.js";

/** Options of {@link VruntimeQueue}. */
export interface VruntimeOptions {
  /** Per-group weights (default 1); a group's virtual runtime grows by `cost / weight`. */
  weights?: Record<string, number>;
}

/** Serialised {@link VruntimeQueue}. */
export interface VruntimeQueueJSON<T> {
  weights: Record<string, number>;
  minVruntime: number;
  groups: { name: string; vruntime: number; items: T[] }[];
}

interface Group<T> {
  name: string;
  weight: number;
  vruntime: number;
  items: T[];
  head: number;
  runnable: boolean;
}

/**
 * A CFS-style virtual-runtime queue: work is grouped (by submitter, project, …), each group accumulates
 * virtual runtime `cost / weight` for what it was served, and the runnable group with the least virtual
 * runtime is served next. A group that wakes up starts at the current minimum, so sleeping earns no credit.
 * Groups are FIFO inside. O(log g) per op for g runnable groups.
 */
export class VruntimeQueue<T> {
  readonly #groups = new Map<string, Group<T>>();
  readonly #runnable = new BinaryHeap<Group<T>>((a, b) => a.vruntime - b.vruntime);
  readonly #weights: Record<string, number>;
  #minVruntime = 0;
  #size = 0;

  constructor(options: VruntimeOptions = {}) {
    this.#weights = { ...options.weights };
  }

  /** Number of queued items. */
  get size(): number {
    return this.#size;
  }

  /** The virtual runtime of a group (0 for an unknown group). */
  vruntimeOf(group: string): number {
    return this.#groups.get(group)?.vruntime ?? 0;
  }

  /** Queues `item` in `group`. */
  enqueue(group: string, item: T): void {
    let entry = this.#groups.get(group);
    if (entry === undefined) {
      const weight = this.#weights[group] ?? 1;
      if (!(weight > 0)) throw new RangeError(`weight of ${group} must be > 0`);
      entry = { name: group, weight, vruntime: this.#minVruntime, items: [], head: 0, runnable: false };
      this.#groups.set(group, entry);
    }
    entry.items.push(item);
    this.#size++;
    if (!entry.runnable) {
      entry.vruntime = Math.max(entry.vruntime, this.#minVruntime);
      entry.runnable = true;
      this.#runnable.push(entry);
    }
  }

  /**
   * Serves the next item of the group with the least virtual runtime and charges that group `cost`
   * (e.g. the item's estimated ms, default 1). Use {@link charge} to correct with the observed cost.
   */
  dequeue(cost = 1): { group: string; item: T } | undefined {
    const entry = this.#runnable.pop();
    if (entry === undefined) return undefined;
    const item = entry.items[entry.head] as T;
    entry.head++;
    this.#size--;
    this.#minVruntime = entry.vruntime;
    entry.vruntime += cost / entry.weight;
    if (entry.head < entry.items.length) {
      this.#runnable.push(entry);
    } else {
      entry.items = [];
      entry.head = 0;
      entry.runnable = false;
    }
    return { group: entry.name, item };
  }

  /** The queue as JSON-ready data (groups in order of virtual runtime, items FIFO). */
  toJSON(): VruntimeQueueJSON<T> {
    const groups = [...this.#groups.values()]
      .sort((a, b) => a.vruntime - b.vruntime)
      .map((group) => ({ name: group.name, vruntime: group.vruntime, items: group.items.slice(group.head) }));
    return { weights: { ...this.#weights }, minVruntime: this.#minVruntime, groups };
  }

  /** Restores a queue saved with {@link toJSON}. */
  static fromJSON<T>(json: VruntimeQueueJSON<T>): VruntimeQueue<T> {
    const queue = new VruntimeQueue<T>({ weights: json.weights });
    queue.#minVruntime = json.minVruntime;
    for (const saved of json.groups) {
      const group: Group<T> = {
        name: saved.name,
        weight: json.weights[saved.name] ?? 1,
        vruntime: saved.vruntime,
        items: [...saved.items],
        head: 0,
        runnable: saved.items.length > 0,
      };
      queue.#groups.set(saved.name, group);
      queue.#size += saved.items.length;
      if (group.runnable) queue.#runnable.push(group);
    }
    return queue;
  }

  /** Adds (or with a negative value, refunds) virtual runtime once the real cost of an item is known. */
  charge(group: string, cost: number): void {
    const entry = this.#groups.get(group);
    if (entry === undefined) return;
    if (entry.runnable) {
      this.#runnable.remove((candidate) => candidate === entry);
      entry.vruntime = Math.max(0, entry.vruntime + cost / entry.weight);
      this.#runnable.push(entry);
    } else {
      entry.vruntime = Math.max(0, entry.vruntime + cost / entry.weight);
    }
  }
}
