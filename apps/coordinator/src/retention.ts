/**
 * Keeps Redis from growing forever. Owns the retention step of the sweep: forgetting finished tasks after
 * the retention (by age and by count, oldest first) and dead-lettered ones after theirs, in bounded
 * batches. A task joins the finished index in the same script that ends it (see `TaskStore.transition`),
 * so each sweep costs O(batch), never a scan of every task. Only the coordinator's sweep drives it. (The
 * waiting list's cap is checked by the submit script itself: see `TaskStore.submit`.)
 */
import { FINISHED_STATES, type TaskStore } from "./store.js";

/** The settings retention works from (see `CoordinatorOptions`). */
export interface RetentionSettings {
  retentionMs: number;
  retentionMaxFinished: number;
  deadLetterRetentionMs: number;
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

/** The retention step of one coordinator; see the module header. */
export class Retention {
  constructor(
    private readonly store: TaskStore,
    private readonly settings: RetentionSettings,
  ) {}

  /**
   * Forgets what retention says is due. Whether anything is due is read first with plain reads (one round
   * trip): a script call only when there is work, so an idle sweep adds none to the batches that carry
   * submits (a lone submit's lease may go out early only when its script goes alone).
   */
  async sweep(now: number): Promise<{ finished: number; deadLetters: number }> {
    const keys = this.store.keys;
    const redis = this.store.redis;
    const finishedCutoff = now - this.settings.retentionMs;
    const deadCutoff = now - this.settings.deadLetterRetentionMs;
    const [finishedCount, oldestFinished, oldestDead] = await Promise.all([
      redis.zcard(keys.finished()),
      redis.zrange(keys.finished(), "0", "0", "WITHSCORES"),
      redis.zrange(keys.deadLetters(), "0", "0", "WITHSCORES"),
    ]);
    const finishedDue =
      finishedCount > this.settings.retentionMaxFinished || isDue(oldestFinished, finishedCutoff);
    const finished = finishedDue
      ? await this.forgetDue(keys.finished(), FINISHED_STATES, {
          cutoff: finishedCutoff,
          keep: this.settings.retentionMaxFinished,
        })
      : 0;
    const deadLetters = isDue(oldestDead, deadCutoff)
      ? await this.forgetDue(keys.deadLetters(), DEAD_LETTERED, { cutoff: deadCutoff, keep: undefined })
      : 0;
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

/** Whether the oldest entry of an index (`[id, score]`, or none) is at or before `cutoff`. */
function isDue(oldest: readonly string[], cutoff: number): boolean {
  return oldest.length >= 2 && Number(oldest[1]) <= cutoff;
}
