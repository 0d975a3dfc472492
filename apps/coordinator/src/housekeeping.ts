/**
 * The sweep that runs every `sweepIntervalMs` (100 ms). `Housekeeping.sweep` runs its steps in order:
 * the failure detector's check, delayed retries whose backoff is over back to placement, tasks whose TTL
 * ran out before a lease end as expired, waiting tasks whose `maxWait` ran out placed or failed, and (at
 * most once a second, or at once after `sweepWaitingSoon`) a page of the waiting list placed where a node
 * can take it (see `waiting.ts`), then retention forgets finished tasks that are due (`retention.ts`). A
 * new periodic step belongs in `sweep`. Last come the projects' lapsed claims and fleet runs
 * (`projects/project-upkeep.ts`). It owns the time of the last waiting sweep and the `WaitingList`;
 * `endUnstarted` (cancel or expire a task that never
 * started) is shared with client operations. Of a node it changes `queued` when a queued task ends.
 */
import type { TaskSpec, WireError } from "@flotilla/protocol";
import type { CoordinatorContext, CoordinatorParts } from "./context.js";
import { Retention } from "./retention.js";
import type { StoredTask } from "./store.js";
import { dropStale, WaitingList } from "./waiting.js";

/** Periodic steps over delayed, expiring and waiting tasks, and the failure detector's check. */
export class Housekeeping {
  private lastWaitingSweep = 0;
  /** Made at the first sweep: the store exists only once the server has started. */
  private retention: Retention | undefined;
  private readonly waiting: WaitingList;

  constructor(
    private readonly ctx: CoordinatorContext,
    private readonly parts: Pick<CoordinatorParts, "placement" | "detector" | "projects">,
  ) {
    this.waiting = new WaitingList(ctx, parts);
  }

  /** One sweep: dead nodes, delayed retries, expiry, and now and then the waiting list. */
  async sweep(): Promise<void> {
    const now = this.ctx.options.clock();
    await this.parts.detector.check(now);
    await this.promoteDelayed(now);
    await this.expireDue(now);
    await this.waiting.expireDue(now);
    if (now - this.lastWaitingSweep >= 1000) {
      this.lastWaitingSweep = now;
      await this.waiting.sweep(now);
    }
    this.retention ??= new Retention(this.ctx.db, this.ctx.options);
    await this.retention.sweep(now);
    await this.parts.projects.upkeep.sweep(now);
  }

  /** The next sweep looks at the waiting list (a node joined or came back: it may take waiting work). */
  sweepWaitingSoon(): void {
    this.lastWaitingSweep = 0;
  }

  /** Retries whose backoff is over go back to routing. */
  private async promoteDelayed(now: number): Promise<void> {
    const ctx = this.ctx;
    const placements = this.parts.placement;
    const key = ctx.keys.store.delayed();
    const due = await ctx.db.dueIds(key, now, 200);
    const delayed = (task: StoredTask): boolean =>
      task.state === "waiting" && task.fields.waitingIn === "delayed";
    for (const task of await dropStale(ctx, key, due, delayed)) {
      const placement = placements.place(task.spec as TaskSpec, now, task.fields.avoidNode);
      const result = await ctx.db.transition(task.id, {
        from: ["waiting"],
        ...placements.change(placement, now),
        source: { kind: "zset", key },
        reason: "retry backoff over",
        now,
      });
      placements.settle(placement, result.ok);
      if (result.ok) ctx.fanout.event(task.id, result.eventJson, false);
    }
  }

  /** Tasks whose TTL ran out before they were leased end as `expired`. */
  private async expireDue(now: number): Promise<void> {
    const ctx = this.ctx;
    const due = await ctx.db.dueIds(ctx.keys.store.expiring(), now, 200);
    if (due.length === 0) return;
    for (const task of await ctx.db.getTasks(due)) {
      const reason = `not started within its TTL (${Number(task.fields.expiresAt) - task.createdAt} ms)`;
      await this.endUnstarted(task, "expired", { code: "E_TIMEOUT", message: reason }, now);
    }
    await ctx.redisClient.zrem(ctx.keys.store.expiring(), ...due);
  }

  /** Ends a task that is queued or waiting (never started): cancelled or expired. False if it moved on. */
  async endUnstarted(
    task: StoredTask,
    to: "cancelled" | "expired",
    error: WireError,
    now: number,
  ): Promise<boolean> {
    const ctx = this.ctx;
    if (task.state !== "queued" && task.state !== "waiting") return false;
    const keys = ctx.keys.store;
    const sourceKey =
      task.state === "queued" && task.node
        ? keys.queue(task.node)
        : task.fields.waitingIn === "delayed"
          ? keys.delayed()
          : keys.waiting();
    const result = await ctx.db.transition(task.id, {
      from: [task.state],
      to,
      source: { kind: "zset", key: sourceKey },
      fields: { finishedAt: now, error: JSON.stringify(error) },
      reason: error.message,
      now,
    });
    if (!result.ok) return false;
    if (task.state === "queued" && task.node) {
      const node = ctx.nodes.get(task.node);
      if (node) node.queued = Math.max(0, node.queued - 1);
    }
    ctx.fanout.event(task.id, result.eventJson, true);
    return true;
  }
}
