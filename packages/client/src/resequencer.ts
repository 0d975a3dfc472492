/** Something with a place in a run's output: the run's lease epoch and the chunk's seq within it. */
export interface Sequenced {
  readonly seq: number;
  readonly epoch: number;
}

/** What {@link Resequencer.accept} decided. */
export interface Accepted<T> {
  /** Chunks now deliverable, in order. */
  ready: T[];
  /**
   * A new run (higher epoch) began with a chunk after seq 0: its first chunks were sent while this
   * subscriber was not listening, so it should ask for the output again from seq 0.
   */
  replayFromStart: boolean;
}

/**
 * Puts one subscriber's output back in order. Replays and live pushes for the same task can interleave
 * (a reconnect, or a second subscriber asking from an earlier seq), so a chunk may arrive twice (dropped)
 * or ahead of a gap (held until the gap fills). A gap that stays open longer than `gapMs` is skipped: the
 * node may have dropped output it could not buffer.
 *
 * Seq numbers restart at 0 when a task is retried under a new lease epoch (another node runs it), so
 * order is by (epoch, seq): chunks of an older epoch than the newest seen belong to a fenced run and
 * are dropped.
 */
export class Resequencer<T extends Sequenced> {
  /** The next seq this subscriber wants within {@link epoch}. */
  nextSeq: number;
  /** The run whose output is being delivered; undefined until the first chunk. */
  epoch: number | undefined;
  readonly #held = new Map<number, T>();
  #gapSince: number | undefined;
  readonly #gapMs: number;
  readonly #clock: () => number;

  constructor(fromSeq: number, options: { gapMs?: number; clock?: () => number } = {}) {
    this.nextSeq = fromSeq;
    this.#gapMs = options.gapMs ?? 2_000;
    this.#clock = options.clock ?? Date.now;
  }

  /** Number of chunks held behind a gap. */
  get held(): number {
    return this.#held.size;
  }

  /** Takes one chunk. */
  accept(item: T): Accepted<T> {
    let ready: T[] = [];
    let replayFromStart = false;
    if (this.epoch === undefined) {
      this.epoch = item.epoch;
    } else if (item.epoch < this.epoch) {
      return { ready, replayFromStart };
    } else if (item.epoch > this.epoch) {
      // The earlier run is over: what it left behind a gap goes out now, then the new run starts at 0.
      ready = this.flush();
      this.epoch = item.epoch;
      this.nextSeq = 0;
      replayFromStart = item.seq > 0;
    }
    if (item.seq < this.nextSeq || this.#held.has(item.seq)) return { ready, replayFromStart };
    this.#held.set(item.seq, item);
    ready.push(...this.#drain());
    if (this.#held.size === 0) {
      this.#gapSince = undefined;
    } else {
      this.#gapSince ??= this.#clock();
      if (this.#clock() - this.#gapSince >= this.#gapMs) ready.push(...this.flush());
    }
    return { ready, replayFromStart };
  }

  /** Gives up on every gap: returns everything held, in seq order (used when the task has ended). */
  flush(): T[] {
    const rest = [...this.#held.values()].sort((a, b) => a.seq - b.seq);
    this.#held.clear();
    this.#gapSince = undefined;
    const last = rest.at(-1);
    if (last) this.nextSeq = last.seq + 1;
    return rest;
  }

  #drain(): T[] {
    const ready: T[] = [];
    for (let item = this.#held.get(this.nextSeq); item !== undefined; item = this.#held.get(this.nextSeq)) {
      this.#held.delete(this.nextSeq);
      ready.push(item);
      this.nextSeq += 1;
    }
    return ready;
  }
}
