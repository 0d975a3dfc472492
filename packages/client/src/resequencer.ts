/** Something with a sequence number. */
export interface Sequenced {
  readonly seq: number;
}

/**
 * Puts one subscriber's output back in seq order. Replays and live pushes for the same task can
 * interleave (a reconnect, or a second subscriber asking from an earlier seq), so a chunk may arrive
 * twice (dropped) or ahead of a gap (held until the gap fills). A gap that stays open longer than
 * `gapMs` is skipped: the node may have dropped output it could not buffer.
 */
export class Resequencer<T extends Sequenced> {
  /** The next seq this subscriber wants. */
  nextSeq: number;
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

  /** Takes one chunk; returns the chunks now deliverable, in order. */
  accept(item: T): T[] {
    if (item.seq < this.nextSeq || this.#held.has(item.seq)) return [];
    this.#held.set(item.seq, item);
    const ready = this.#drain();
    if (this.#held.size === 0) {
      this.#gapSince = undefined;
    } else {
      this.#gapSince ??= this.#clock();
      if (this.#clock() - this.#gapSince >= this.#gapMs) return [...ready, ...this.flush()];
    }
    return ready;
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
