import { type RedisServer, startRedis } from "@flotilla/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll } from "vitest";

/** A suite's own redis-server and a client of it, valid from `beforeAll` on. */
export interface SuiteRedis {
  readonly server: RedisServer;
  readonly redis: Redis;
}

/** Starts a redis-server and a client of it before the suite's tests, and stops both after. */
export function redisPerSuite(): SuiteRedis {
  const suite = {} as { server: RedisServer; redis: Redis };
  beforeAll(async () => {
    suite.server = await startRedis();
    suite.redis = new Redis(suite.server.url);
  });
  afterAll(async () => {
    suite.redis.disconnect();
    await suite.server.dispose();
  });
  return suite;
}
