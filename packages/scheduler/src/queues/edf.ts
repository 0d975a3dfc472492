/** What the EDF queue needs from a task. */
export interface DeadlineEntry {
  id: string;
  /** Absolute deadline (ms). */
  deadlineAt: number;
  /** Estimated run time on this queue's server (ms). */
  estimatedMs: number;
}

/** Outcome of {@link EdfQueue.submit}. */
export type Admission =
  | { admitted: true /** Estimated completion time. */; expectedFinishAt: number }
  | {
      admitted: false;
      code: "E_ADMISSION";
      /** For the user: which deadline could not be met and by how much. */
      reason: string;
      /** The task whose deadline would be missed (the new one or an already admitted one). */
      wouldMiss: string;
      lateByMs: number;
    };

/** Options of {@link EdfQueue}. */
export interface EdfOptions {
  /** Tasks that run at once (a node's slots); default 1. */
  servers?: number;
}

/** Serialised {@link EdfQueue}. */
export interface EdfQueueJSON<T> {
  queue: T[];
  /** Per server, when it is estimated to be free (null: never busy yet). */
  busyUntil: (number | null)[];
  /** Which server each running task occupies. */
  running: Record<string, number>;
}

/**
 * Earliest-deadline-first queue with admission control, for one node with `servers` slots.
 *
 * A submit is admitted only if, replaying the dispatch rule (the earliest-deadline task starts on the first
 * slot to come free) over every admitted task plus the new one, all of them still finish by their deadlines.
 * When estimates hold and the caller dispatches by that rule ({@link pop} whenever a slot frees,
 * {@link complete} when a task ends), the replay is exactly what happens, so admitted tasks never miss: a
 * task that cannot make it is refused at submit time with a reason instead of running late. On one slot
 * this is plain EDF, which is optimal. The check is O(n × servers) in queued tasks.
 */
export class EdfQueue<T extends DeadlineEntry> {
  /** Queued tasks sorted by deadline (stable: equal deadlines keep submit order). */
  readonly #queue: T[] = [];
  /** Per slot, the estimated time it finishes what it runs now. */
  readonly #busyUntil: number[];
  readonly #running = new Map<string, number>();

  constructor(options: EdfOptions = {}) {
    const servers = options.servers ?? 1;
    if (!Number.isInteger(servers) || servers < 1) throw new RangeError("servers must be an integer >= 1");
    this.#busyUntil = new Array<number>(servers).fill(Number.NEGATIVE_INFINITY);
  }

  /** Number of queued (admitted, not yet started) tasks. */
  get size(): number {
    return this.#queue.length;
  }

  /** Tries to admit `task` at time `now`. */
  submit(task: T, now: number): Admission {
    if (!(task.estimatedMs >= 0)) throw new RangeError(`estimatedMs must be >= 0 for task ${task.id}`);
    const queue = this.#queue;
    let low = 0;
    let high = queue.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if ((queue[mid] as T).deadlineAt <= task.deadlineAt) low = mid + 1;
      else high = mid;
    }
    const position = low;
    const free = this.#busyUntil.map((busy) => Math.max(now, busy));
    let ownFinish = 0;
    for (let i = 0; i <= queue.length; i++) {
      const entry = i === position ? task : (queue[i < position ? i : i - 1] as T);
      let slot = 0;
      for (let s = 1; s < free.length; s++) if ((free[s] as number) < (free[slot] as number)) slot = s;
      const finish = (free[slot] as number) + entry.estimatedMs;
      free[slot] = finish;
      if (entry === task) ownFinish = finish;
      // Tasks ahead of the new one are not affected by it; if run times overran estimates one of them may
      // already be late, and that is no reason to refuse this task.
      if (i >= position && finish > entry.deadlineAt)
        return this.#refuse(task, entry.id, finish - entry.deadlineAt);
    }
    queue.splice(position, 0, task);
    return { admitted: true, expectedFinishAt: ownFinish };
  }

  /** Removes the earliest-deadline task and records that the first free slot runs it from `now`. */
  pop(now: number): T | undefined {
    const task = this.#queue.shift();
    if (task === undefined) return undefined;
    const busy = this.#busyUntil;
    let slot = 0;
    for (let s = 1; s < busy.length; s++) if ((busy[s] as number) < (busy[slot] as number)) slot = s;
    busy[slot] = Math.max(now, busy[slot] as number) + task.estimatedMs;
    this.#running.set(task.id, slot);
    return task;
  }

  /**
   * Records that a running task finished at `now`, freeing its slot earlier or later than estimated. With
   * one slot the id may be omitted.
   */
  complete(now: number, taskId?: string): void {
    const slot =
      taskId === undefined ? (this.#busyUntil.length === 1 ? 0 : undefined) : this.#running.get(taskId);
    if (taskId !== undefined) this.#running.delete(taskId);
    else if (slot === 0) this.#running.clear();
    if (slot !== undefined) this.#busyUntil[slot] = now;
  }

  /** The earliest-deadline task without removing it. */
  peek(): T | undefined {
    return this.#queue[0];
  }

  /** Withdraws a queued task (cancel); returns it when found. */
  remove(id: string): T | undefined {
    const index = this.#queue.findIndex((task) => task.id === id);
    return index < 0 ? undefined : this.#queue.splice(index, 1)[0];
  }

  /** The queue as JSON-ready data. */
  toJSON(): EdfQueueJSON<T> {
    return {
      queue: [...this.#queue],
      busyUntil: this.#busyUntil.map((busy) => (Number.isFinite(busy) ? busy : null)),
      running: Object.fromEntries(this.#running),
    };
  }

  /** Restores a queue saved with {@link toJSON}. */
  static fromJSON<T extends DeadlineEntry>(json: EdfQueueJSON<T>): EdfQueue<T> {
    const edf = new EdfQueue<T>({ servers: Math.max(1, json.busyUntil.length) });
    edf.#queue.push(...[...json.queue].sort((a, b) => a.deadlineAt - b.deadlineAt));
    json.busyUntil.forEach((busy, slot) => {
      edf.#busyUntil[slot] = busy ?? Number.NEGATIVE_INFINITY;
    });
    for (const [id, slot] of Object.entries(json.running)) edf.#running.set(id, slot);
    return edf;
  }

  #refuse(task: T, wouldMiss: string, lateByMs: number): Admission {
    const reason =
      wouldMiss === task.id
        ? `deadline of ${task.id} cannot be met: it would finish ${Math.ceil(lateByMs)} ms late given the work already admitted`
        : `admitting ${task.id} would make already admitted task ${wouldMiss} miss its deadline by ${Math.ceil(lateByMs)} ms`;
    return { admitted: false, code: "E_ADMISSION", reason, wouldMiss, lateByMs };
  }
}
