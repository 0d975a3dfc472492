/**
 * Keeps Redis from growing forever. Owns the housekeeping the sweep runs: forgetting finished tasks after
 * the retention (by age and by count, oldest first) and dead-lettered ones after theirs, in bounded
 * batches, and the waiting list's cap. A task joins the finished index in the same script that ends it
 * (see `TaskStore.transition`), so each sweep costs O(batch), never a scan of every task. Only the
 * coordinator's sweep drives it.
 */
import { FlotillaError } from "@flotilla/protocol";
import { FINISHED_STATES, type TaskStore } from "./store.js";

/** The settings retention works from (see `CoordinatorOptions`). */
export interface RetentionSettings {
  retentionMs: number;
  retentionMaxFinished: number;
  deadLetterRetentionMs: number;
  maxWaiting: number;
}

/**
 * Tasks forgotten per script call. Each costs Redis about 30 µs (a read, and its share of one ZREM on
 * each index and one UNLINK), so a call keeps Redis busy for some 10 ms at most: other commands wait
 * that long, not longer, as the next call goes separately.
 */
export const FORGET_BATCH = 256;
/** Calls per sweep while batches come back full: at a sweep each 100 ms, up to 20,000 tasks a second. */
const BATCHES_PER_SWEEP = 8;

const DEAD_LETTERED = ["dead_lettered"] as const;

/** The housekeeping of one coordinator; see the module header. */
export class Housekeeping {
  /** The waiting list's length: read from Redis at each sweep, counted up by each task admitted to it. */
  private waiting = 0;

  constructor(
    private readonly store: TaskStore,
    private readonly settings: RetentionSettings,
  ) {}

  /**
   * Admits one more task to the waiting list, or refuses it with `E_QUEUE_FULL` when the list holds
   * `maxWaiting` (as node queues refuse beyond their cap).
   */
  admitWaiting(): void {
    if (this.waiting >= this.settings.maxWaiting) {
      throw new FlotillaError(
        "E_QUEUE_FULL",
        `the waiting list is full (${this.settings.maxWaiting} tasks no node can take yet); submit again later`,
      );
    }
    this.waiting += 1;
  }

  /** One round of housekeeping: refreshes the waiting count and forgets what retention says is due. */
  async sweep(now: number): Promise<{ finished: number; deadLetters: number }> {
    const keys = this.store.keys;
    this.waiting = await this.store.redis.zcard(keys.waiting());
    const finished = await this.forgetDue(keys.finished(), FINISHED_STATES, {
      cutoff: now - this.settings.retentionMs,
      keep: this.settings.retentionMaxFinished,
    });
    const deadLetters = await this.forgetDue(keys.deadLetters(), DEAD_LETTERED, {
      cutoff: now - this.settings.deadLetterRetentionMs,
      keep: undefined,
    });
    return { finished, deadLetters };
  }

  private async forgetDue(
    index: string,
    states: readonly string[],
    due: { cutoff: number; keep: number | undefined },
  ): Promise<number> {
    let forgotten = 0;
    for (let call = 0; call < BATCHES_PER_SWEEP; call += 1) {
      const result = await this.store.forget(index, states, { ...due, batch: FORGET_BATCH });
      forgotten += result.forgotten;
      if (!result.more) break;
    }
    return forgotten;
  }
}
