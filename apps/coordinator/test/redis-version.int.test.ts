import { createServer, type Server } from "node:net";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCoordinator } from "../src/index.js";

/**
 * A server that answers the few commands a connecting client sends the way Redis 6.2 would: enough to
 * see the coordinator refuse it with a clear message before it runs a script that needs 7.0.
 */
function fakeRedis(version: string): Server {
  return createServer((socket) => {
    let pending = "";
    socket.on("data", (data) => {
      pending += data.toString("latin1");
      // Commands arrive as RESP arrays of bulk strings: `*N`, then `$len` and the bytes for each part.
      for (;;) {
        const lines = pending.split("\r\n");
        const count = Number(lines[0]?.slice(1));
        if (!lines[0]?.startsWith("*") || lines.length < 1 + 2 * count + 1) return;
        const parts = Array.from({ length: count }, (_, i) => lines[2 + 2 * i] as string);
        pending = lines.slice(1 + 2 * count).join("\r\n");
        const name = parts[0]?.toUpperCase();
        if (name === "PING") socket.write("+PONG\r\n");
        else if (name === "INFO") {
          const info = `# Server\r\nredis_version:${version}\r\n# Persistence\r\nloading:0\r\n`;
          socket.write(`$${Buffer.byteLength(info)}\r\n${info}\r\n`);
        } else socket.write("+OK\r\n");
      }
    });
  });
}

describe("the Redis it is given", () => {
  let server: Server;
  let port = 0;
  beforeAll(async () => {
    server = fakeRedis("6.2.14");
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => server.close());

  it("refuses a Redis older than 7.0, saying which version it found", async () => {
    const coordinator = createCoordinator({
      redisUrl: `redis://127.0.0.1:${port}`,
      token: "t",
      port: 0,
      host: "127.0.0.1",
      logger: pino({ level: "silent" }),
    });
    await expect(coordinator.start()).rejects.toThrow(/is 6\.2; Flotilla needs Redis 7\.0 or newer/);
  });
});
