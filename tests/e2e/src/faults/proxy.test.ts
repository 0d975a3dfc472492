import { createConnection, createServer, type Socket } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { TcpProxy } from "./proxy.js";

/** An echo server standing in for Redis. */
const echo = createServer((socket) => socket.pipe(socket));
await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", () => resolve()));
const target = { host: "127.0.0.1", port: (echo.address() as { port: number }).port };
afterAll(() => echo.close());

/** Connects through the proxy; resolves with the socket, or with the error it got. */
async function dial(port: number): Promise<Socket> {
  return await new Promise((resolve, reject) => {
    const socket = createConnection(port, "127.0.0.1", () => resolve(socket));
    socket.once("error", reject);
  });
}

/** Writes `text` and resolves with what comes back, or "closed" if the socket closes first. */
async function roundTrip(socket: Socket, text: string, timeoutMs = 300): Promise<string> {
  return await new Promise((resolve) => {
    const timer = setTimeout(() => resolve("nothing"), timeoutMs);
    socket.once("data", (data) => {
      clearTimeout(timer);
      resolve(data.toString());
    });
    socket.once("close", () => {
      clearTimeout(timer);
      resolve("closed");
    });
    socket.write(text);
  });
}

describe("TcpProxy", () => {
  it("forwards, drops every connection on cut, refuses while cut, accepts again on resume", async () => {
    const proxy = await TcpProxy.start(target);
    const first = await dial(proxy.port);
    expect(await roundTrip(first, "ping")).toBe("ping");
    proxy.cut();
    expect(first.destroyed || (await roundTrip(first, "late")) === "closed").toBe(true);
    const refused = await dial(proxy.port);
    expect(await roundTrip(refused, "ping")).toBe("closed");
    proxy.resume();
    const again = await dial(proxy.port);
    expect(await roundTrip(again, "pong")).toBe("pong");
    expect(proxy.cuts).toBe(1);
    again.destroy();
    await proxy.close();
  });

  it("lets commands through but drops the replies after loseReplies, until the cut", async () => {
    const proxy = await TcpProxy.start(target);
    const socket = await dial(proxy.port);
    proxy.loseReplies();
    expect(await roundTrip(socket, "lost")).toBe("nothing");
    proxy.cut();
    proxy.resume();
    const fresh = await dial(proxy.port);
    expect(await roundTrip(fresh, "back")).toBe("back");
    fresh.destroy();
    await proxy.close();
  });
});
