import { CLOSE_PROTOCOL_VERSION, type FlotillaError, PROTOCOL_VERSION } from "@flotilla/protocol";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { createAgent } from "./agent.js";

let server: WebSocketServer | undefined;
afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
});

describe("an agent refused for its protocol version", () => {
  it("says its version in hello, then stops with the coordinator's reason instead of reconnecting", async () => {
    const hellos: Record<string, unknown>[] = [];
    server = new WebSocketServer({ port: 0 });
    server.on("connection", (socket) =>
      socket.once("message", (data) => {
        hellos.push(JSON.parse(String(data)) as Record<string, unknown>);
        socket.close(
          CLOSE_PROTOCOL_VERSION,
          "flotilla-agent 0.1.0 speaks protocol 1, flotilla-coordinator 2.0.0 speaks 2: upgrade this agent",
        );
      }),
    );
    await new Promise((resolve) => server?.once("listening", resolve));
    const port = (server.address() as { port: number }).port;
    let fatal: FlotillaError | undefined;
    const agent = createAgent({
      coordinatorUrl: `ws://127.0.0.1:${port}`,
      token: "t",
      id: "old-agent",
      logger: pino({ level: "silent" }),
      onFatal: (error) => {
        fatal = error;
      },
    });
    const started = await agent.start().then(
      () => undefined,
      (error: FlotillaError) => error,
    );
    const error = started ?? fatal;
    expect(error?.code).toBe("E_VERSION");
    expect(error?.message).toContain("upgrade this agent");
    expect(hellos).toHaveLength(1);
    expect(hellos[0]).toMatchObject({ type: "agent.hello", protocol: PROTOCOL_VERSION });
    await agent.stop({ now: true });
  });
});
