/**
 * What a coordinator sets up on its Redis connection, besides the store, so that Redis cannot lose or
 * corrupt the fleet's state unnoticed: the durability check at start (`durability.ts`), the generation
 * that tells an emptied Redis after a reconnect (`redis-generation.ts`), and the leadership lease whose
 * fencing token every script batch of the store carries (`leadership.ts`). It does not decide who leads:
 * the server (`coordinator.ts`) acquires the lease, or waits as a standby until it lapses.
 */
import { hostname } from "node:os";
import type { Logger } from "pino";
import { checkDurability, enforceDurability } from "./durability.js";
import type { CoordinatorKeys } from "./keys.js";
import { Leadership } from "./leadership.js";
import type { RedisClient } from "./redis-connection.js";
import { type EmptiedInfo, RedisGeneration } from "./redis-generation.js";
import type { TaskStore } from "./store.js";

/** What {@link startRedisSafety} started; `stop()` gives the lease up. */
export interface RedisSafety {
  readonly leadership: Leadership;
  readonly generation: RedisGeneration;
  stop(): Promise<void>;
}

/** Options of {@link startRedisSafety}. */
export interface RedisSafetyOptions {
  readonly redis: RedisClient;
  readonly keys: CoordinatorKeys;
  readonly store: TaskStore;
  readonly log: Logger;
  readonly requireDurable: boolean;
  /** Called when Redis was found emptied or replaced after a reconnect (it is logged either way). */
  readonly onEmptied?: (info: EmptiedInfo) => void;
}

/** How long `stop()` waits for Redis to take the lease back before leaving it to expire. */
const RELEASE_WAIT_MS = 1000;

/**
 * Checks durability (throws `E_CONFIG` when refused), starts watching the generation, and makes the
 * leadership lease (not yet acquired), which gives the store the fencing token of each term it wins.
 */
export async function startRedisSafety(options: RedisSafetyOptions): Promise<RedisSafety> {
  const { redis, keys, store, log } = options;
  enforceDurability(await checkDurability(redis), {
    requireDurable: options.requireDurable,
    warn: (problem) => log.warn(problem),
  });
  const generation = new RedisGeneration({
    redis,
    key: keys.generation,
    onEmptied: (info) => {
      log.error(
        { expected: info.expected, found: info.found },
        "redis: emptied or replaced since this coordinator started; the tasks, queues and leases it held are gone",
      );
      options.onEmptied?.(info);
    },
    onCheckFailed: (error) => log.warn({ err: error.message }, "redis: generation check failed"),
  });
  await generation.start();
  const leadership = new Leadership({
    redis,
    leaderKey: keys.leader,
    fenceKey: keys.fence,
    coordinatorId: `${hostname().replaceAll(":", "-")}-${process.pid}`,
  });
  leadership.on("elected", (term) => {
    store.setFencingToken(term.token);
    log.info({ token: term.token }, "leadership: this coordinator is the active one");
  });
  leadership.on("lost", (reason) => {
    if (reason === "released") return;
    log.warn({ reason }, "leadership: lost; Redis refuses this coordinator's writes until it leads again");
  });
  return {
    leadership,
    generation,
    async stop() {
      generation.stop();
      leadership.stop();
      let timer: NodeJS.Timeout | undefined;
      const waited = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, RELEASE_WAIT_MS);
      });
      await Promise.race([leadership.lose().catch(() => {}), waited]);
      clearTimeout(timer);
    },
  };
}
