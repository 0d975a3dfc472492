import { createConnection } from "node:net";
import { describe, expect, it } from "vitest";
import { freePort, startRedis } from "./index.js";

async function ping(port: number): Promise<string> {
  return await new Promise((resolve, reject) => {
    const socket = createConnection(port, "127.0.0.1", () => socket.write("PING\r\n"));
    socket.once("data", (data) => {
      resolve(data.toString().trim());
      socket.end();
    });
    socket.once("error", reject);
  });
}

describe("startRedis", () => {
  it("starts a private server, survives kill + restart on the same port, and cleans up", async () => {
    const redis = await startRedis();
    expect(redis.port).not.toBe(6379);
    expect(await ping(redis.port)).toBe("+PONG");
    await redis.kill();
    await expect(ping(redis.port)).rejects.toThrow();
    await redis.restart();
    expect(await ping(redis.port)).toBe("+PONG");
    await redis.dispose();
  });

  it("hands out usable free ports", async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
  });
});
