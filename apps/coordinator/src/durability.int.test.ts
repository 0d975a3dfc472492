import { type FlotillaError, isFlotillaError } from "@flotilla/protocol";
import { type RedisServer, startRedis } from "@flotilla/testing";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { checkDurability, enforceDurability } from "./durability.js";

describe("checkDurability (real redis-servers)", () => {
  let server: RedisServer | undefined;
  const clients: Redis[] = [];
  afterEach(async () => {
    for (const client of clients.splice(0)) client.disconnect();
    await server?.dispose();
  });
  const connect = (url: string): Redis => {
    const client = new Redis(url);
    clients.push(client);
    return client;
  };

  it("finds nothing wrong with the append-only file on and no eviction", async () => {
    server = await startRedis({ appendOnly: "everysec" });
    const report = await checkDurability(connect(server.url));
    expect(report).toEqual({ checked: true, appendonly: "yes", maxmemoryPolicy: "noeviction", problems: [] });
    enforceDurability(report, { requireDurable: true, warn: () => expect.unreachable() });
  });

  it("warns, or refuses when durability is required, without the append-only file or with eviction", async () => {
    server = await startRedis();
    const redis = connect(server.url);
    await redis.config("SET", "maxmemory-policy", "allkeys-lru");
    const report = await checkDurability(redis);
    expect(report).toMatchObject({ checked: true, appendonly: "no", maxmemoryPolicy: "allkeys-lru" });
    expect(report.problems).toHaveLength(2);
    const warnings: string[] = [];
    enforceDurability(report, { requireDurable: false, warn: (problem) => warnings.push(problem) });
    expect(warnings).toEqual(report.problems);
    let refused: unknown;
    try {
      enforceDurability(report, { requireDurable: true, warn: () => {} });
    } catch (error) {
      refused = error;
    }
    expect(isFlotillaError(refused) && (refused as FlotillaError).code).toBe("E_CONFIG");
    expect((refused as Error).message).toMatch(/appendonly no.*maxmemory-policy allkeys-lru/);
  });

  it("says it cannot check when CONFIG is not allowed", async () => {
    server = await startRedis({ appendOnly: "everysec" });
    await connect(server.url).acl("SETUSER", "limited", "on", "nopass", "~*", "&*", "+@all", "-config");
    const redis = new Redis(server.url, { username: "limited", password: "x" });
    clients.push(redis);
    const report = await checkDurability(redis);
    expect(report.checked).toBe(false);
    expect(report.problems[0]).toMatch(/cannot check.*NOPERM/);
    const warnings: string[] = [];
    enforceDurability(report, { requireDurable: false, warn: (problem) => warnings.push(problem) });
    expect(warnings).toHaveLength(1);
    expect(() => enforceDurability(report, { requireDurable: true, warn: () => {} })).toThrow(/cannot check/);
  });
});
