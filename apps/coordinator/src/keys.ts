import { createKeys, type RedisKeys } from "@flotilla/protocol";
import type { StoreKeys } from "./store.js";

/** The fleet's Redis names (from @flotilla/protocol) plus the store's view of them. */
export interface CoordinatorKeys {
  readonly redis: RedisKeys;
  readonly store: StoreKeys;
  /**
   * Set: every node that ever said hello to this fleet. Unlike `agents:active` it is never taken from, so
   * recovery finds the running set and queue of a node even after a crash left it out of the active set.
   */
  readonly nodesKnown: string;
}

/** Builds every name the coordinator uses for one fleet prefix. */
export function coordinatorKeys(prefix: string): CoordinatorKeys {
  const redis = createKeys(prefix);
  // Retries waiting out their backoff: not a node queue, so it lives outside the `queue:` namespace.
  const own = (name: string): string => (prefix === "" ? name : `${prefix}:${name}`);
  return {
    redis,
    nodesKnown: own("nodes:known"),
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
      deadLetters: () => redis.dlq,
      allTasks: () => redis.tasksAll,
      taskUpdates: () => redis.taskUpdates,
    },
  };
}
