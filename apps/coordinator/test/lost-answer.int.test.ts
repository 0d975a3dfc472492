import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFleet, type TestFleet } from "./fleet.js";

/**
 * A TCP proxy in front of Redis that can lose an answer: once a command holding `marker` has gone up,
 * it drops whatever Redis sends back and then cuts the connection, as a network fault would after
 * Redis ran the command.
 */
function lossyProxy(target: () => number) {
  let marker: string | undefined;
  const sockets = new Set<Socket>();
  const server: Server = createServer((down) => {
    const up = tcpConnect(target(), "127.0.0.1");
    sockets.add(down).add(up);
    let losing = false;
    down.on("data", (chunk) => {
      up.write(chunk);
      if (marker !== undefined && chunk.includes(marker)) {
        marker = undefined;
        losing = true;
        // Long enough for Redis to have run it; then the connection goes, its answer unread.
        setTimeout(() => {
          down.destroy();
          up.destroy();
        }, 100);
      }
    });
    up.on("data", (chunk) => {
      if (!losing) down.write(chunk);
    });
    for (const socket of [down, up]) {
      socket.on("error", () => {});
      socket.on("close", () => {
        sockets.delete(socket);
        (socket === up ? down : up).destroy();
      });
    }
  });
  return {
    server,
    loseAnswerTo(text: string) {
      marker = text;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

describe("a submit whose answer from Redis is lost with the connection", () => {
  let fleet: TestFleet;
  let redisPort = 0;
  const proxy = lossyProxy(() => redisPort);
  let ran = 0;

  beforeAll(async () => {
    await new Promise<void>((resolve) => proxy.server.listen(0, "127.0.0.1", resolve));
    const address = proxy.server.address();
    const proxyPort = typeof address === "object" && address ? address.port : 0;
    fleet = await startFleet((port) => {
      redisPort = port;
      return { redisUrl: `redis://127.0.0.1:${proxyPort}` };
    });
    await fleet.addAgent({
      id: "worker",
      slots: 1,
      handlers: {
        count: async () => {
          ran += 1;
          return ran;
        },
      },
    });
  });
  afterAll(async () => {
    await fleet?.dispose();
    proxy.close();
  });

  it("is run once, on the node its lease went to: the script sent again finds the task it wrote", async () => {
    const client = await fleet.client();
    proxy.loseAnswerTo("lose-this-answer");
    const handle = await client.submit({ kind: "call", handler: "count", payload: "lose-this-answer" });
    expect(handle.duplicate).toBe(false);
    expect(await handle.result()).toMatchObject({ state: "succeeded", result: 1 });
    expect(await client.task(handle.id)).toMatchObject({ state: "succeeded", node: "worker", epoch: 1 });
    expect(ran).toBe(1);
  });
});
