/**
 * What the coordinator announces about the fleet: node events (joined, dead, drained, breaker changes)
 * on Redis's `agents:events` and to connections that watch every event, and node faults that cost a task
 * its run on `events:errors:task_failures`. `FleetEvents` keeps no state; membership, the failure
 * detector, node faults, run reports and client operations announce through it.
 */
import type { CoordinatorContext } from "./context.js";

/** Publishes fleet events and task failures. */
export class FleetEvents {
  constructor(private readonly ctx: CoordinatorContext) {}

  /** A node event, on Redis and to every `events.watch` connection (as a `broadcast` frame). */
  async nodeEvent(type: string, nodeId: string, now: number, extra: Record<string, unknown>): Promise<void> {
    await this.fleetEvent(type, now, { node: nodeId, ...extra });
  }

  /** An event of the fleet as a whole (`redis.emptied`, say), published like node events. */
  async fleetEvent(type: string, now: number, fields: Record<string, unknown>): Promise<void> {
    const ctx = this.ctx;
    const event = JSON.stringify({
      from: "coordinator",
      type,
      timestamp: new Date(now).toISOString(),
      ...fields,
    });
    await ctx.redisClient.publish(ctx.keys.redis.events, event);
    ctx.fanout.fleetEvent(() =>
      ctx.frames.frame("broadcast", { message: type, data: JSON.parse(event) as unknown }),
    );
  }

  /** A node fault cost `taskId` its run: one entry in the capped failure list, and published. */
  async taskFailure(taskId: string, nodeId: string, reason: string, now: number): Promise<void> {
    const keys = this.ctx.keys.redis;
    const entry = JSON.stringify({
      taskId,
      node: nodeId,
      reason,
      at: now,
      timestamp: new Date(now).toISOString(),
    });
    await this.ctx.redisClient
      .multi()
      .rpush(keys.taskFailures, entry)
      .ltrim(keys.taskFailures, -10_000, -1)
      .publish(keys.taskFailures, entry)
      .exec();
  }
}
