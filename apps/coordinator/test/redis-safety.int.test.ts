import { isFlotillaError } from "@flotilla/protocol";
import { startRedis, waitFor } from "@flotilla/testing";
import { Redis } from "ioredis";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createCoordinator } from "../src/index.js";
import { coordinatorKeys } from "../src/keys.js";
import { startFleet } from "./fleet.js";

const silent = pino({ level: "silent" });

describe("the coordinator's hold on its Redis", () => {
  it("refuses a Redis without the append-only file when durability is required", async () => {
    const redis = await startRedis();
    try {
      const coordinator = createCoordinator({
        redisUrl: redis.url,
        token: "t",
        port: 0,
        host: "127.0.0.1",
        logger: silent,
        requireDurable: true,
      });
      const refused = await coordinator.start().catch((error: unknown) => error);
      expect(isFlotillaError(refused) && refused.code).toBe("E_CONFIG");
      expect((refused as Error).message).toMatch(/appendonly no/);
    } finally {
      await redis.dispose();
    }
  });

  it("leads with a fencing token, writes the generation, and gives the lease up when it stops", async () => {
    const fleet = await startFleet();
    const keys = coordinatorKeys("");
    const redis = new Redis(fleet.redis.url);
    try {
      expect(await redis.get(keys.generation)).toMatch(/^[0-9a-f]{32}$/);
      expect(await redis.get(keys.leader)).toMatch(/:1$/);
      expect(await redis.get(keys.fence)).toBe("1");
      const client = await fleet.client();
      await fleet.addAgent({ id: "n1" });
      const handle = await client.submit({ kind: "exec", argv: ["true"] });
      expect((await handle.result()).state).toBe("succeeded");
      await fleet.coordinator.stop();
      await waitFor(async () => (await redis.exists(keys.leader)) === 0, { what: "the lease given up" });
    } finally {
      redis.disconnect();
      await fleet.dispose();
    }
  });
});
