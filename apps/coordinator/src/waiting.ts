/**
 * The waiting list: tasks no node can take yet, in `queue:waiting` scored by their `maxWaitAt`, so those
 * whose wait is over are a range read of what is due and cost nothing while they wait. `WaitingList`
 * owns two steps the housekeeping sweep runs: `expireDue` (every sweep) places or fails the tasks whose
 * maxWait ran out, and `sweep` (once a second, or soon after a node joined) tries to place the list a
 * page at a time from a cursor that resumes where the last page stopped and wraps at the end, so a long
 * head of tasks no node can take never hides the ones behind it. An entry whose score is earlier than its
 * task's `maxWaitAt` (a transition writes the time it joined) is scored again when it comes due. Entries
 * whose task is gone or has moved on are dropped (`dropStale`, shared with the delayed retries). It owns
 * the cursor; it changes tasks only through the store's transitions.
 */
import type { TaskSpec, WireError } from "@flotilla/protocol";
import { type CoordinatorContext, type CoordinatorParts, TERMINAL } from "./context.js";
import type { StoredTask } from "./store.js";

/** Tasks placed per page of the cursor sweep. */
const PAGE = 500;
/** Tasks whose maxWait ran out, handled per sweep. */
const DUE_BATCH = 200;

/** Placement and maxWait for the tasks no node could take. */
export class WaitingList {
  /** Rank in `queue:waiting` where the next page starts. */
  private cursor = 0;

  constructor(
    private readonly ctx: CoordinatorContext,
    private readonly parts: Pick<CoordinatorParts, "placement">,
  ) {}

  /** Tasks whose maxWait is over: placed if a node can take them now, failed otherwise. */
  async expireDue(now: number): Promise<void> {
    const ctx = this.ctx;
    const key = ctx.keys.store.waiting();
    const ids = await ctx.db.dueIds(key, now, DUE_BATCH);
    if (ids.length === 0) return;
    const tasks = await dropStale(ctx, key, ids, isWaiting);
    for (const task of tasks) {
      // A record without a deadline (written before there was one) waits without end, as it always did.
      const deadline = Number(task.fields.maxWaitAt ?? Number.POSITIVE_INFINITY);
      if (deadline > now) {
        // Joined the list with the time it joined as its score: its wait ends later.
        await ctx.redisClient.zadd(key, "XX", Number.isFinite(deadline) ? deadline : "+inf", task.id);
        continue;
      }
      const placement = this.parts.placement.place(task.spec as TaskSpec, now);
      if (placement.kind !== "waiting") {
        await this.placeOn(task, placement, now);
        continue;
      }
      const error: WireError = {
        code: "E_NODE_UNAVAILABLE",
        message: `no node could run this task within its maxWait: ${placement.reason}`,
        retryable: true,
      };
      const result = await ctx.db.transition(task.id, {
        from: ["waiting"],
        to: "failed",
        source: { kind: "zset", key },
        fields: { finishedAt: now, error: JSON.stringify(error) },
        reason: error.message,
        now,
      });
      if (result.ok) ctx.fanout.event(task.id, result.eventJson, true);
    }
  }

  /** One page of the list from the cursor: placed where a node can take them now. */
  async sweep(now: number): Promise<void> {
    const ctx = this.ctx;
    const key = ctx.keys.store.waiting();
    const ids = await ctx.redisClient.zrange(key, String(this.cursor), String(this.cursor + PAGE - 1));
    const tasks = await dropStale(ctx, key, ids, isWaiting);
    let left = ids.length - tasks.length;
    for (const task of tasks) {
      const placement = this.parts.placement.place(task.spec as TaskSpec, now);
      if (placement.kind === "waiting") {
        if (placement.reason !== task.fields.waitingReason) {
          await ctx.redisClient.hset(ctx.keys.store.task(task.id), "waitingReason", placement.reason);
        }
        continue;
      }
      if (await this.placeOn(task, placement, now)) left += 1;
    }
    // What left the list moved the ranks after it down: the next page starts that much earlier.
    this.cursor = ids.length < PAGE ? 0 : this.cursor + ids.length - left;
  }

  /** Moves a waiting task to the node `placement` chose. False if it had moved on meanwhile. */
  private async placeOn(
    task: StoredTask,
    placement: ReturnType<CoordinatorParts["placement"]["place"]>,
    now: number,
  ): Promise<boolean> {
    const ctx = this.ctx;
    const placements = this.parts.placement;
    const result = await ctx.db.transition(task.id, {
      from: ["waiting"],
      ...placements.change(placement, now),
      source: { kind: "zset", key: ctx.keys.store.waiting() },
      reason: "a capable node is available",
      now,
    });
    placements.settle(placement, result.ok);
    if (result.ok) ctx.fanout.event(task.id, result.eventJson, false);
    return result.ok;
  }
}

/** Whether a task belongs on the waiting list (not among the delayed retries). */
function isWaiting(task: StoredTask): boolean {
  return task.state === "waiting" && task.fields.waitingIn !== "delayed";
}

/**
 * Reads the tasks of `ids`, entries of the zset `key`, and takes out of it those whose task is gone or is
 * not in the state `belongs` expects, so they are not read again at every sweep. A task that moved on may
 * come back (a retry) between the read and the removal: those that belong again once removed are put
 * back, due at once. Returns the tasks that belong.
 */
export async function dropStale(
  ctx: CoordinatorContext,
  key: string,
  ids: readonly string[],
  belongs: (task: StoredTask) => boolean,
): Promise<StoredTask[]> {
  if (ids.length === 0) return [];
  const tasks = await ctx.db.getTasks(ids);
  const kept = tasks.filter(belongs);
  if (kept.length === ids.length) return kept;
  const keptIds = new Set(kept.map((task) => task.id));
  const stale = ids.filter((id) => !keptIds.has(id));
  await ctx.redisClient.zrem(key, ...stale);
  const movable = tasks.filter((task) => !keptIds.has(task.id) && !TERMINAL.has(task.state));
  for (const task of await ctx.db.getTasks(movable.map((t) => t.id))) {
    if (belongs(task)) await ctx.redisClient.zadd(key, "NX", 0, task.id);
  }
  return kept;
}
