import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { FlotillaError } from "@flotilla/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { agent, coordinator, setCoordinator, useAgentSession, waitUntil } from "../test/agent-session.js";
import { TestCoordinator } from "../test/test-coordinator.js";

useAgentSession();

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** An HTTP server that answers every request, WebSocket upgrades included, as a standby does: 503. */
async function standby(): Promise<{ url: string; upgrades: () => number }> {
  let upgrades = 0;
  const server = createServer((_request, response) => response.writeHead(503).end());
  server.on("upgrade", (_request, socket) => {
    upgrades++;
    socket.end("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, upgrades: () => upgrades };
}

/** A loopback address where nothing listens. */
async function closedPort(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `ws://127.0.0.1:${port}`;
}

describe("several coordinator addresses", () => {
  it("passes over a closed port and a standby's 503 to the coordinator that welcomes it", async () => {
    const refused = await closedPort();
    const idle = await standby();
    // A backoff this long would fail the start: moving on from a refusal within a round must not wait.
    const a = agent({
      coordinatorUrl: `${refused}, ${idle.url},${coordinator.url}`,
      reconnectBaseMs: 5_000,
      reconnectCapMs: 5_000,
      random: () => 1,
      connectTimeoutMs: 2_000,
    });
    await a.start();
    expect(a.connected).toBe(true);
    expect(idle.upgrades()).toBe(1);
    expect(coordinator.all("agent.hello")).toHaveLength(1);
  });

  it("keeps its runs when the active coordinator goes and a standby takes over at another address", async () => {
    const first = coordinator;
    const secondPort = new URL(await closedPort()).port;
    const a = agent({ coordinatorUrl: [first.url, `ws://127.0.0.1:${secondPort}`], reconnectBaseMs: 20 });
    await a.start();
    first.send("task.assign", {
      taskId: "survivor",
      epoch: 1,
      attempt: 1,
      spec: { kind: "exec", shell: "sleep 0.5; echo done" },
    });
    await first.waitFor("task.accept", (m) => m.taskId === "survivor");
    await first.close();
    const second = await TestCoordinator.startOn(Number(secondPort));
    setCoordinator(second);
    const hello = await second.waitFor("agent.hello");
    expect(hello.running).toEqual([{ taskId: "survivor", epoch: 1 }]);
    const finish = await second.waitFor("task.finish", (m) => m.taskId === "survivor");
    expect(finish.outcome).toBe("succeeded");
    await waitUntil(() => a.connected);
  });

  it("rejects start naming every address when none answers", async () => {
    const a = agent({
      coordinatorUrl: [await closedPort(), await closedPort()],
      connectTimeoutMs: 300,
      reconnectBaseMs: 20,
    });
    const error = (await a.start().catch((e: unknown) => e)) as FlotillaError;
    expect(error.code).toBe("E_COORDINATOR_UNAVAILABLE");
    expect(error.message.split(",")).toHaveLength(2);
  });
});
