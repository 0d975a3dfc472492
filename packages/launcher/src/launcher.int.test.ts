import { createConnection } from "node:net";
import { describe, expect, it } from "vitest";
import { freePort } from "./ports.js";
import { startService } from "./process.js";
import { REDIS_MISSING_HINT, startRedisServer } from "./redis.js";

async function ping(port: number): Promise<string> {
  return await command(port, "PING");
}

/** Sends one inline command and resolves with the first reply line. */
async function command(port: number, line: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const socket = createConnection(port, "127.0.0.1", () => socket.write(`${line}\r\n`));
    socket.once("data", (data) => {
      resolve(data.toString().trim());
      socket.end();
    });
    socket.once("error", reject);
  });
}

describe("startRedisServer", () => {
  it("starts a private server, comes back after a SIGKILL with its AOF data, and cleans up", async () => {
    const redis = await startRedisServer({ appendOnly: "always" });
    expect(redis.port).not.toBe(6379);
    expect(await ping(redis.port)).toBe("+PONG");
    await redis.kill();
    await expect(ping(redis.port)).rejects.toThrow();
    await redis.restart();
    expect(await ping(redis.port)).toBe("+PONG");
    await redis.dispose();
  });

  it("comes back empty when asked to, on the same port", async () => {
    const redis = await startRedisServer({ appendOnly: "always" });
    expect(await command(redis.port, "SET kept 1")).toBe("+OK");
    await redis.kill();
    await redis.restart();
    expect(await command(redis.port, "EXISTS kept")).toBe(":1");
    await redis.kill();
    await redis.restart({ empty: true });
    expect(await command(redis.port, "EXISTS kept")).toBe(":0");
    await redis.dispose();
  });

  it("says how to get redis-server when there is none", async () => {
    await expect(startRedisServer({ binary: "redis-server-that-does-not-exist" })).rejects.toThrow(
      REDIS_MISSING_HINT,
    );
  });
});

describe("startService", () => {
  it("waits for the ready line, and stops with SIGTERM", async () => {
    const service = await startService({
      name: "sleeper",
      command: process.execPath,
      args: [
        "-e",
        "console.log('warming up'); setTimeout(() => console.log('sleeper ready'), 100); setInterval(() => {}, 1000)",
      ],
      ready: /sleeper ready/,
    });
    expect(service.running).toBe(true);
    expect(service.tail()).toEqual(["warming up", "sleeper ready"]);
    await service.stop();
    expect(service.running).toBe(false);
  });

  it("rejects with the process's last lines when it exits before it is ready", async () => {
    await expect(
      startService({
        name: "quitter",
        command: process.execPath,
        args: ["-e", "console.error('boom'); process.exit(3)"],
        ready: /never/,
      }),
    ).rejects.toThrow(/quitter exited \(3\) before it was ready:\nboom/);
  });

  it("hands out usable free ports", async () => {
    expect(await freePort()).toBeGreaterThan(0);
  });
});
