import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, type McpFleet, refused, startMcpFleet } from "./mcp-fleet.js";

const FLEET_TOOLS = [
  "run_command",
  "submit_command",
  "command_status",
  "command_output",
  "cancel_command",
  "list_nodes",
  "fleet_status",
];
const CHAT_TOOLS = ["broadcast", "send_message", "read_messages", "list_agents", "publish", "read_topic"];

interface Kept {
  messages: { seq: string; channel: string; from: string; message: string; data?: unknown }[];
  next: string;
}

// `flotilla mcp` runs from source (tsx compiles it on the way): seconds on a loaded machine.
describe("flotilla mcp against a real fleet", { timeout: 120_000 }, () => {
  let fleet: McpFleet;
  let alpha: Client;

  beforeAll(async () => {
    fleet = await startMcpFleet();
    alpha = await fleet.stdio("alpha");
  }, 120_000);
  afterAll(() => fleet?.dispose());

  it("lists every fleet and chat tool", async () => {
    const { tools } = await alpha.listTools();
    const names = tools.map((tool) => tool.name);
    for (const name of [...FLEET_TOOLS, ...CHAT_TOOLS]) expect(names).toContain(name);
    const run = tools.find((tool) => tool.name === "run_command");
    expect(Object.keys(run?.inputSchema.properties ?? {})).toEqual(
      expect.arrayContaining(["argv", "shell", "needs", "waitSeconds"]),
    );
  });

  it("runs a command and returns its exit code and last lines", async () => {
    const done = await call(alpha, "run_command", {
      shell: "for i in 1 2 3 4 5; do echo line $i; done; echo oops >&2; exit 3",
      tailLines: 3,
    });
    expect(done).toMatchObject({ finished: true, state: "failed", exitCode: 3, node: "box" });
    expect(String(done.output).split("\n")).toHaveLength(3);
    expect(done.output).toContain("line 5");
    expect(done.output).toContain("oops");
  });

  it("returns the task id of a command still running; status, output from a seq, cancel", async () => {
    const running = await call<{ taskId: string; finished: boolean }>(alpha, "run_command", {
      shell: "echo started; exec sleep 60",
      waitSeconds: 0,
    });
    expect(running.finished).toBe(false);
    const { taskId } = running;
    let output = await call<{ output: string; nextSeq: number; state: string }>(alpha, "command_output", {
      taskId,
      fromSeq: 0,
    });
    while (!output.output.includes("started")) {
      output = await call(alpha, "command_output", { taskId, fromSeq: 0 });
    }
    expect(output.nextSeq).toBeGreaterThan(0);
    expect((await call(alpha, "command_output", { taskId, fromSeq: output.nextSeq })).output).toBe("");
    expect(await call(alpha, "command_status", { taskId })).toMatchObject({ id: taskId, state: "running" });
    await call(alpha, "cancel_command", { taskId });
    let status = await call<{ state: string }>(alpha, "command_status", { taskId });
    while (status.state !== "cancelled") status = await call(alpha, "command_status", { taskId });
    expect(status.state).toBe("cancelled");
  });

  it("submits without waiting, then reads the tail of the output", async () => {
    const submitted = await call<{ taskId: string }>(alpha, "submit_command", {
      argv: ["echo", "queued work"],
    });
    let status = await call<{ state: string }>(alpha, "command_status", { taskId: submitted.taskId });
    while (status.state !== "succeeded")
      status = await call(alpha, "command_status", { taskId: submitted.taskId });
    const tail = await call(alpha, "command_output", { taskId: submitted.taskId });
    expect(tail).toMatchObject({ state: "succeeded", output: "queued work" });
  });

  it("lists the nodes and sums up the fleet", async () => {
    const { nodes } = await call<{ nodes: { id: string; capabilities: string[] }[] }>(alpha, "list_nodes");
    expect(nodes.map((node) => node.id)).toEqual(["box"]);
    const status = await call(alpha, "fleet_status");
    expect(status).toMatchObject({ healthyNodes: 1, slotsTotal: 4, queueDepth: { queued: 0, waiting: 0 } });
  });

  it("answers a broken rule with a tool error carrying the code and a hint", async () => {
    const missing = await refused(alpha, "command_status", { taskId: "t-999999" });
    expect(missing.code).toBe("E_NOT_FOUND");
    expect(missing.hint).toContain("list_");
    const both = await refused(alpha, "submit_command", { argv: ["true"], shell: "true" });
    expect(both.code).toBe("E_SCHEMA");
    expect(both.hint).toBeTruthy();
    const bad = await refused(alpha, "command_status", { taskId: "{not an id}" });
    expect(bad.message).toMatch(/taskId/);
  });

  it("chats: direct messages and broadcasts kept in the inbox, topics live and kept, agents listed", async () => {
    // The second agent speaks over HTTP at /mcp on the coordinator.
    const beta = await fleet.http("beta");
    expect((await beta.listTools()).tools.map((tool) => tool.name)).toEqual(
      expect.arrayContaining([...FLEET_TOOLS, ...CHAT_TOOLS]),
    );
    await call(alpha, "send_message", {
      to: "beta",
      message: "review my branch",
      data: { branch: "feat/x" },
    });
    await call(alpha, "broadcast", { message: "standup in 5" });
    const inbox = await call<Kept & { agentId: string }>(beta, "read_messages");
    expect(inbox.agentId).toBe("beta");
    expect(inbox.messages.map((message) => [message.channel, message.from, message.message])).toEqual([
      ["direct", "alpha", "review my branch"],
      ["broadcast", "alpha", "standup in 5"],
    ]);
    expect(inbox.messages[0]?.data).toEqual({ branch: "feat/x" });
    expect((await call<Kept>(beta, "read_messages", { since: inbox.next })).messages).toEqual([]);
    await call(beta, "send_message", { to: "alpha", message: "on it" });
    const alphaInbox = await call<Kept>(alpha, "read_messages", { since: inbox.next });
    expect(alphaInbox.messages.map((message) => message.message)).toEqual(["on it"]);

    const first = await call<{ seq: string }>(alpha, "publish", {
      topic: "builds",
      message: "main is green",
    });
    await call(beta, "publish", { topic: "builds", message: "release cut" });
    const topic = await call<Kept>(beta, "read_topic", { topic: "builds" });
    expect(topic.messages.map((message) => [message.from, message.message])).toEqual([
      ["alpha", "main is green"],
      ["beta", "release cut"],
    ]);
    const after = await call<Kept>(alpha, "read_topic", { topic: "builds", since: first.seq });
    expect(after.messages.map((message) => message.message)).toEqual(["release cut"]);

    const { agents } = await call<{ agents: { id: string; capabilities: string[]; lastSeen: string }[] }>(
      beta,
      "list_agents",
    );
    expect(agents.map((agent) => agent.id)).toEqual(["box"]);
    expect(Number.isNaN(Date.parse(agents[0]?.lastSeen ?? ""))).toBe(false);
  });
});
