import { type RedisServer, startRedis, waitFor } from "@flotilla/testing";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { coordinatorKeys } from "./keys.js";
import { type EmptiedInfo, RedisGeneration } from "./redis-generation.js";

const KEY = coordinatorKeys("gen").generation;

describe("RedisGeneration (a real redis-server restarted)", () => {
  let server: RedisServer | undefined;
  let redis: Redis | undefined;
  afterEach(async () => {
    redis?.disconnect();
    await server?.dispose();
  });

  const connect = (url: string): Redis => {
    const client = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: () => 50 });
    client.on("error", () => {});
    return client;
  };

  it("reports a Redis restarted empty within 2 s of the reconnect", async () => {
    server = await startRedis();
    redis = connect(server.url);
    const found: EmptiedInfo[] = [];
    const generation = new RedisGeneration({ redis, key: KEY, onEmptied: (info) => found.push(info) });
    const id = await generation.start();
    // A second coordinator on the same Redis reads the same generation.
    const other = new RedisGeneration({ redis, key: KEY, onEmptied: () => {} });
    expect(await other.start()).toBe(id);
    other.stop();

    let readyAt = 0;
    redis.on("ready", () => {
      readyAt = Date.now();
    });
    await server.kill();
    await server.restart();
    await waitFor(() => found.length > 0, { what: "the emptied Redis reported", intervalMs: 5 });
    expect(found).toEqual([{ expected: id, found: null, detectedAt: expect.any(Number) }]);
    expect((found[0] as EmptiedInfo).detectedAt - readyAt).toBeLessThan(2000);
    expect(await generation.check()).toBe(false);
    // Reported once per finding.
    expect(found).toHaveLength(1);
    generation.stop();
  });

  it("stays quiet when Redis comes back with its data", async () => {
    server = await startRedis({ appendOnly: "always" });
    redis = connect(server.url);
    const found: EmptiedInfo[] = [];
    const generation = new RedisGeneration({ redis, key: KEY, onEmptied: (info) => found.push(info) });
    await generation.start();
    const ready = new Promise((resolve) => redis?.once("ready", resolve));
    await server.kill();
    await server.restart();
    await ready;
    expect(await generation.check()).toBe(true);
    expect(found).toEqual([]);
    generation.stop();
  });
});
