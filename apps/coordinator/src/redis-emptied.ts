/**
 * What the coordinator does when Redis was emptied or replaced under it (no append-only file and a
 * restart, a lost disk, a failover to an empty replica): the generation key it read at start is gone or
 * different after a reconnect (`redis-generation.ts`). Every task, queue and lease Redis held is gone, so
 * the coordinator says so loudly — an error log line, `/healthz` not ok until it restarts, the
 * `flotilla_redis_emptied_total` metric, a `redis.emptied` event on `agents:events` — forgets the leases
 * and counts it kept for those tasks, and closes every connection: agents say hello again (runs of tasks
 * Redis no longer has are killed), and clients watch again, so a submitter waiting for a lost task gets
 * `E_NOT_FOUND` naming the emptied Redis instead of waiting for ever. The leadership lease and its fencing
 * counter went with the data, so it first takes a new term (until then every script is refused), and
 * last a new generation.
 */
import type { CoordinatorContext, CoordinatorParts } from "./context.js";
import type { RedisSafety } from "./redis-safety.js";

/** The close code peers get: "service restart" (they reconnect at once). */
const RESTART_CLOSE_CODE = 1012;

/** Handles an emptied Redis, as the module header says; `closeSessions` closes every connection. */
export async function redisEmptied(
  ctx: CoordinatorContext,
  parts: Pick<CoordinatorParts, "events">,
  safety: RedisSafety,
  closeSessions: (code: number, reason: string) => void,
  found: { expected: string; found: string | null },
): Promise<void> {
  const now = ctx.options.clock();
  ctx.redisEmptiedAt = now;
  ctx.metrics.redisEmptied.inc();
  ctx.leases.clear();
  ctx.db.tally.reset();
  for (const node of ctx.nodes.values()) node.queued = 0;
  if (ctx.role === "active") await safety.leadership.seize();
  closeSessions(RESTART_CLOSE_CODE, "Redis was emptied: connect again");
  await safety.generation.adopt();
  await parts.events.fleetEvent("redis.emptied", now, {
    expectedGeneration: found.expected,
    foundGeneration: found.found,
    message: "Redis was emptied or replaced: the tasks, queues and leases it held are gone",
  });
}
