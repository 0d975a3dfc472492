/**
 * Heartbeats against `running:{node}`. Every heartbeat lists the runs its agent holds (going on, or held
 * ahead for a slot); `RunReconciler` compares that list with the leases Redis keeps for the node, the
 * other way from the fence that membership applies to runs the agent holds without a lease. A task in
 * `running:{node}` that the agent does not hold was lost on the way (a lease whose reply from Redis never
 * came back, an assignment the agent never got, a lease left over by a script run twice): once it is
 * older than the grace and still missing a grace later, it is requeued like the lease of a dead node. An
 * entry whose task is no longer leased to this node is only taken out of the set. To keep heartbeats
 * cheap the members are read only when the count Redis gives with the heartbeat's own writes differs from
 * the count the agent reports, while a task is already missing, or every `FULL_CHECK_EVERY`th beat (equal
 * counts can hide one lost lease behind one fenced run). It owns, per node, when each missing task was
 * first seen missing and a beat counter; it changes nothing of a node but through the failure detector.
 */
import type { RunRef } from "@flotilla/protocol";
import { ACTIVE_STATES, type CoordinatorContext, type CoordinatorParts } from "./context.js";

/** Every this many heartbeats the members are compared even when the counts agree. */
const FULL_CHECK_EVERY = 10;

/** Per node: missing task ids (with the epoch they were missing under) and when first seen missing. */
interface NodeWatch {
  beats: number;
  missingSince: Map<string, { epoch: number; since: number }>;
}

/** Requeues the leases Redis holds for a node that its agent does not. */
export class RunReconciler {
  private readonly watches = new Map<string, NodeWatch>();

  constructor(
    private readonly ctx: CoordinatorContext,
    private readonly parts: Pick<CoordinatorParts, "detector">,
  ) {}

  /** How long a lease may go unreported before it counts as lost: two heartbeats. */
  private get graceMs(): number {
    return 2 * this.ctx.options.heartbeatIntervalMs;
  }

  /**
   * After a heartbeat: `storedCount` is the size of `running:{node}` read with the heartbeat's writes.
   * Reads the members only when something may be missing.
   */
  async afterBeat(
    nodeId: string,
    reported: readonly RunRef[],
    storedCount: number,
    now: number,
  ): Promise<void> {
    let watch = this.watches.get(nodeId);
    if (!watch) {
      watch = { beats: 0, missingSince: new Map() };
      this.watches.set(nodeId, watch);
    }
    watch.beats += 1;
    const due = watch.beats % FULL_CHECK_EVERY === 0;
    if (storedCount === reported.length && watch.missingSince.size === 0 && !due) return;
    if (storedCount === 0) {
      watch.missingSince.clear();
      return;
    }
    await this.reconcile(nodeId, watch, reported, now);
  }

  /** Forgets what was seen missing on a node (its agent said hello: the hello settles its runs). */
  forget(nodeId: string): void {
    this.watches.delete(nodeId);
  }

  private async reconcile(
    nodeId: string,
    watch: NodeWatch,
    reported: readonly RunRef[],
    now: number,
  ): Promise<void> {
    const ctx = this.ctx;
    const held = new Set(reported.map((run) => run.taskId));
    const missingIds = (await ctx.db.runningIds(nodeId)).filter((id) => !held.has(id));
    const previous = watch.missingSince;
    watch.missingSince = new Map();
    if (missingIds.length === 0) return;
    const tasks = await ctx.db.getTasks(missingIds);
    // Ids whose task is gone (`getTasks` leaves them out) are stale entries.
    const existing = new Set(tasks.map((task) => task.id));
    const stale = missingIds.filter((id) => !existing.has(id));
    for (const task of tasks) {
      if (task.node !== nodeId || !ACTIVE_STATES.includes(task.state)) {
        stale.push(task.id);
        continue;
      }
      // A lease still on its way to the agent (or whose submit Redis has not confirmed) is not lost.
      const leasedAt = Number(task.fields.leasedAt ?? task.updatedAt);
      if (now - leasedAt < this.graceMs || ctx.leases.get(task.id)?.confirming) continue;
      const seen = previous.get(task.id);
      const since = seen?.epoch === task.epoch ? seen.since : now;
      // Missing on one beat may be a result still on its way: it must stay missing for a grace.
      if (now - since < this.graceMs) {
        watch.missingSince.set(task.id, { epoch: task.epoch, since });
        continue;
      }
      ctx.log.warn(
        { node: nodeId, task: task.id, epoch: task.epoch },
        "lease lost: the agent does not hold it",
      );
      await this.parts.detector.requeueLost(task, nodeId, "the agent does not hold this lease", now);
    }
    if (stale.length > 0) await ctx.redisClient.srem(ctx.keys.store.running(nodeId), ...stale);
  }
}
