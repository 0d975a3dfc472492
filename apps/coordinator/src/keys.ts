import { createKeys, type RedisKeys } from "@flotilla/protocol";
import type { StoreKeys } from "./store.js";

/** The fleet's Redis names (from @flotilla/protocol) plus the store's view of them. */
export interface CoordinatorKeys {
  readonly redis: RedisKeys;
  readonly store: StoreKeys;
  /** The leadership lease, `<coordinatorId>:<token>` (see `leadership.ts`). */
  readonly leader: string;
  /** The fencing token: a counter taken (INCR) by each coordinator that acquires the lease. */
  readonly fence: string;
  /** The random id written when this Redis first held the fleet (see `redis-generation.ts`). */
  readonly generation: string;
  /**
   * Set: every node that ever said hello to this fleet. Unlike `agents:active` it is never taken from, so
   * recovery finds the running set and queue of a node even after a crash left it out of the active set.
   */
  readonly nodesKnown: string;
  /** List: the fleet's history samples (JSON), oldest first, trimmed to what the settings keep. */
  readonly history: string;
  /** Hash: each alert rule's state by `rule:subject` (JSON `RuleState`, see `alert-rules.ts`). */
  readonly alertStates: string;
  /** List: recently resolved alerts (JSON), newest first, capped. */
  readonly alertsResolved: string;
}

/** Builds every name the coordinator uses for one fleet prefix. */
export function coordinatorKeys(prefix: string): CoordinatorKeys {
  const redis = createKeys(prefix);
  // Retries waiting out their backoff: not a node queue, so it lives outside the `queue:` namespace.
  const own = (name: string): string => (prefix === "" ? name : `${prefix}:${name}`);
  return {
    redis,
    nodesKnown: own("nodes:known"),
    history: own("coordinator:history"),
    alertStates: own("coordinator:alerts"),
    alertsResolved: own("coordinator:alerts:resolved"),
    store: {
      task: redis.task,
      taskEvents: redis.taskEvents,
      taskOutput: redis.taskOutput,
      idempotency: redis.idempotency,
      queue: redis.queue,
      running: redis.running,
      waiting: () => redis.waitingQueue,
      delayed: () => own("tasks:delayed"),
      // Tasks with a TTL, by expiry time.
      expiring: () => own("tasks:expiring"),
      // Ended tasks (dead-lettered ones aside), by end time: what retention forgets, oldest first.
      finished: () => own("tasks:finished"),
      deadLetters: () => redis.dlq,
      allTasks: () => redis.tasksAll,
      taskUpdates: () => redis.taskUpdates,
      fence: () => own("coordinator:fence"),
      // A script batch's reply, kept a short while for a resend of the batch (see `scripts.ts`).
      reply: (requestId) => own(`coordinator:reply:${requestId}`),
    },
    leader: own("coordinator:leader"),
    fence: own("coordinator:fence"),
    generation: own("coordinator:generation"),
  };
}
