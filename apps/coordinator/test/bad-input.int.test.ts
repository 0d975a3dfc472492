import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startFleet, type TestFleet } from "./fleet.js";
import { agentHello, envelope, rawSocket } from "./raw.js";

describe("bad input never takes the coordinator down", () => {
  let fleet: TestFleet;

  beforeAll(async () => {
    fleet = await startFleet({ maxFrameBytes: 64 * 1024 });
    await fleet.addAgent({ id: "worker" });
  });
  afterAll(async () => {
    await fleet?.dispose();
  });

  it("answers each kind of bad frame with a stable code", async () => {
    const client = await rawSocket(fleet, "/v1/client");
    client.socket.send("{not json");
    expect((await client.next((reply) => reply.code === "E_BAD_JSON")).type).toBe("error");
    client.socket.send(JSON.stringify(envelope("task.explode", {})));
    await client.next((reply) => reply.code === "E_UNKNOWN_TYPE");
    client.socket.send(JSON.stringify({ ...envelope("nodes.list", {}), v: 99 }));
    await client.next((reply) => reply.code === "E_VERSION");
    client.socket.send(
      JSON.stringify(envelope("task.submit", { spec: { kind: "exec", argv: ["echo", "a\u0000b"] } }, "nul")),
    );
    const nul = await client.next((reply) => reply.replyTo === "nul");
    expect(nul.code).toBe("E_SCHEMA");
    client.socket.send(
      JSON.stringify(
        envelope("task.submit", { spec: { kind: "exec", argv: ["true"], timeoutMs: 1e15 } }, "absurd"),
      ),
    );
    expect((await client.next((reply) => reply.replyTo === "absurd")).code).toBe("E_SCHEMA");
    client.socket.send(JSON.stringify(envelope("task.get", { taskId: "nope" }, "missing")));
    expect((await client.next((reply) => reply.replyTo === "missing")).code).toBe("E_NOT_FOUND");
    client.socket.send(
      JSON.stringify(envelope("heartbeat", { capabilities: [], status: "ready" }, "not-mine")),
    );
    expect((await client.next((reply) => reply.replyTo === "not-mine")).code).toBe("E_UNKNOWN_TYPE");
    client.socket.close();
  });

  it("refuses an agent frame that claims another node's id", async () => {
    const agent = await rawSocket(fleet, "/v1/agent");
    agent.socket.send(JSON.stringify(agentHello("impostor", "hello")));
    await agent.next((reply) => reply.type === "agent.welcome");
    agent.socket.send(
      JSON.stringify({
        ...envelope("heartbeat", { capabilities: [], status: "ready" }, "spoof"),
        from: "worker",
      }),
    );
    expect((await agent.next((reply) => reply.replyTo === "spoof")).code).toBe("E_UNAUTHORIZED");
    // A heartbeat that claims a run this node holds no lease for: the run is fenced.
    agent.socket.send(
      JSON.stringify({
        ...envelope("heartbeat", {
          capabilities: [],
          status: "busy",
          running: [{ taskId: "t-ghost", epoch: 3 }],
        }),
        from: "impostor",
      }),
    );
    const fenced = await agent.next((reply) => reply.code === "E_STALE_EPOCH");
    expect(fenced.details).toMatchObject({ taskId: "t-ghost", epoch: 3 });
    // A bridge that only speaks Redis reaches connected agents: broadcasts and inboxes are relayed.
    const publish = (channel: string, message: string): void => {
      execFileSync("redis-cli", ["-p", String(fleet.redis.port), "PUBLISH", channel, message]);
    };
    publish(
      "agents:general",
      JSON.stringify({ from: "py-bridge", type: "broadcast", message: "deploy at 5" }),
    );
    const broadcast = await agent.next((reply) => reply.type === "broadcast");
    expect(broadcast).toMatchObject({ message: "deploy at 5" });
    publish("agent:impostor:messages", "plain text hello");
    expect(await agent.next((reply) => reply.type === "direct")).toMatchObject({
      to: "impostor",
      message: "plain text hello",
    });
    agent.socket.close();
  });

  it("closes oversize frames with 1009 and repeat offenders with 1008", async () => {
    const big = await rawSocket(fleet, "/v1/client");
    big.socket.send("x".repeat(100 * 1024));
    expect(await big.closed).toBe(1009);
    const offender = await rawSocket(fleet, "/v1/client");
    for (let i = 0; i < 25; i += 1) offender.socket.send("garbage");
    expect(await offender.closed).toBe(1008);
  });

  it("survives 10,000 random and mutated frames and still serves everyone else", async () => {
    const valid = [
      envelope("nodes.list", {}),
      envelope("task.get", { taskId: "t-1" }),
      envelope("tasks.list", { limit: 5 }),
      envelope("task.submit", {
        spec: { kind: "exec", argv: ["true"], needs: { nothing: true }, maxWaitMs: 1 },
      }),
      envelope("task.watch", { taskId: "t-2", fromSeq: 0 }),
    ].map((frame) => JSON.stringify(frame));
    const mutate = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
      fc.json({ maxDepth: 3 }),
      fc
        .tuple(fc.constantFrom(...valid), fc.nat(400), fc.string({ maxLength: 8 }))
        .map(([frame, at, insert]) => {
          const index = at % frame.length;
          return frame.slice(0, index) + insert + frame.slice(index + 1);
        }),
      fc.tuple(fc.constantFrom(...valid), fc.jsonValue()).map(([frame, value]) => {
        const parsed = JSON.parse(frame) as Record<string, unknown>;
        const keys = Object.keys(parsed);
        parsed[keys[Math.floor(Math.random() * keys.length)] as string] = value;
        return JSON.stringify(parsed);
      }),
    );
    const frames = fc.sample(mutate, { numRuns: 10_000, seed: 42 });
    frames.push(randomBytes(70 * 1024).toString("base64"));
    let socket = await rawSocket(fleet, "/v1/client");
    let connections = 1;
    for (const frame of frames) {
      if (socket.closeCode() !== undefined || socket.socket.readyState !== WebSocket.OPEN) {
        socket = await rawSocket(fleet, "/v1/client");
        connections += 1;
      }
      socket.socket.send(frame);
      if (socket.inbox.length > 50) socket.inbox.splice(0);
      await new Promise((resolve) => setImmediate(resolve));
    }
    socket.socket.close();
    expect(connections).toBeGreaterThan(1);
    // Still up, still correct for a well-behaved client.
    const health = await fetch(`${fleet.coordinator.url.replace("ws:", "http:")}/healthz`);
    expect(health.status).toBe(200);
    const client = await fleet.client();
    const result = await (await client.submit({ kind: "exec", shell: "echo still-here" })).result();
    expect(result.state).toBe("succeeded");
    const nodes = await client.nodes();
    expect(nodes.map((node) => node.id)).toContain("worker");
  }, 120_000);
});
