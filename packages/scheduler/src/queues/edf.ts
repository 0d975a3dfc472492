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

/**
 * Earliest-deadline-first queue for one server, with admission control.
 *
 * A submit is admitted only if, with every admitted task run in deadline order from the moment the server
 * is free, every task (the new one and all already admitted) still finishes by its deadline. EDF is optimal
 * on one server, so when estimates hold, admitted tasks never miss: a task that cannot make it is refused
 * at submit time with a reason instead of running late. The check is O(n) in queued tasks.
 */
export class EdfQueue<T extends DeadlineEntry> {
  /** Queued tasks sorted by deadline (stable: equal deadlines keep submit order). */
  readonly #queue: T[] = [];
  /** Estimated time the server finishes what it is running now. */
  #busyUntil = Number.NEGATIVE_INFINITY;

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
    let finish = Math.max(now, this.#busyUntil);
    for (let i = 0; i < position; i++) finish += (queue[i] as T).estimatedMs;
    finish += task.estimatedMs;
    const ownFinish = finish;
    if (ownFinish > task.deadlineAt) {
      return this.#refuse(task, task.id, ownFinish - task.deadlineAt);
    }
    for (let i = position; i < queue.length; i++) {
      const later = queue[i] as T;
      finish += later.estimatedMs;
      if (finish > later.deadlineAt) return this.#refuse(task, later.id, finish - later.deadlineAt);
    }
    queue.splice(position, 0, task);
    return { admitted: true, expectedFinishAt: ownFinish };
  }

  /** Removes the earliest-deadline task and records that the server runs it from `now`. */
  pop(now: number): T | undefined {
    const task = this.#queue.shift();
    if (task !== undefined) this.#busyUntil = Math.max(now, this.#busyUntil) + task.estimatedMs;
    return task;
  }

  /** Records that the running task finished at `now` (frees the server earlier or later than estimated). */
  complete(now: number): void {
    this.#busyUntil = now;
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

  /** The queue as JSON-ready data (`busyUntil` is null while the server has never been busy). */
  toJSON(): { queue: T[]; busyUntil: number | null } {
    return { queue: [...this.#queue], busyUntil: Number.isFinite(this.#busyUntil) ? this.#busyUntil : null };
  }

  /** Restores a queue saved with {@link toJSON}. */
  static fromJSON<T extends DeadlineEntry>(json: { queue: T[]; busyUntil: number | null }): EdfQueue<T> {
    const edf = new EdfQueue<T>();
    edf.#queue.push(...[...json.queue].sort((a, b) => a.deadlineAt - b.deadlineAt));
    edf.#busyUntil = json.busyUntil ?? Number.NEGATIVE_INFINITY;
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
