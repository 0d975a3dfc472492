import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runMain } from "../src/cli.js";
import { call, type McpFleet, refused, SUBMIT_TOKEN, startMcpFleet } from "./mcp-fleet.js";

const FLEET_TOOLS = [
  "run_command",
  "submit_command",
  "command_status",
  "command_output",
  "cancel_command",
  "list_nodes",
  "fleet_status",
];
const PROJECT_TOOLS = [
  "list_projects",
  "read_project",
  "create_project",
  "delete_project",
  "add_tasks_to_project",
  "finalize_project",
  "list_tasks",
  "read_task",
  "create_task",
  "update_task",
  "delete_task",
  "approve_task",
  "get_next_task",
  "claim_next_task",
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
    expect(Array.isArray((status as { alerts: unknown }).alerts)).toBe(true);
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

  it("wrote nothing on stdout but the protocol", () => {
    expect(fleet.protocolErrors).toEqual([]);
  });
});

interface ProjectTask {
  id: string;
  status: string;
  approved: boolean;
  assignee?: string;
  completedDetails: string;
}

describe("flotilla publish and subscribe", { timeout: 60_000 }, () => {
  let fleet: McpFleet;

  beforeAll(async () => {
    fleet = await startMcpFleet();
  });
  afterAll(() => fleet?.dispose());

  async function flotilla(...argv: string[]) {
    const streams = { stdout: "", stderr: "" };
    const code = await runMain(argv, {
      stdout: { write: (text: string) => (streams.stdout += text) },
      stderr: { write: (text: string) => (streams.stderr += text) },
      env: { FLOTILLA_URL: fleet.coordinator.url, FLOTILLA_TOKEN: fleet.token },
      homedir: "/nonexistent",
      readFile: () => undefined,
    });
    return { code, ...streams };
  }

  it("publishes on a topic; a late subscriber catches up, then gets what comes next", async () => {
    const published = await flotilla("publish", "--data", '{"sha":"abc"}', "deploys", "v1 out");
    expect(published).toMatchObject({ code: 0, stderr: "" });
    expect(published.stdout).toMatch(/^published \d+-\d+\n$/);
    const following = flotilla("subscribe", "--count", "2", "--json", "deploys");
    // Published while the subscriber runs: before or after its first read, it sees both, in order.
    const agent = await fleet.http("deployer");
    await call(agent, "publish", { topic: "deploys", message: "v2 out" });
    const subscribed = await following;
    expect(subscribed.code).toBe(0);
    const lines = subscribed.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((line) => [line.message, line.from])).toEqual([
      ["v1 out", expect.stringMatching(/^cli-publish-/)],
      ["v2 out", "deployer"],
    ]);
    expect(lines[0]?.data).toEqual({ sha: "abc" });
  });
});

describe("project tools through flotilla mcp", { timeout: 120_000 }, () => {
  let fleet: McpFleet;
  let agent: Client;

  beforeAll(async () => {
    fleet = await startMcpFleet();
    agent = await fleet.stdio("builder");
  }, 120_000);
  afterAll(() => fleet?.dispose());

  it("offers the task-queue tools, approve_task since this token may approve", async () => {
    const names = (await agent.listTools()).tools.map((tool) => tool.name);
    for (const name of PROJECT_TOOLS) expect(names).toContain(name);
  });

  it("create → claim → in progress → done → approve → finalize, each broken rule refused", async () => {
    const project = await call<{ projectId: string; tasks: ProjectTask[] }>(agent, "create_project", {
      initialPrompt: "ship the release",
      tasks: [
        { title: "write notes", description: "release notes", priority: "high" },
        { title: "tag", description: "git tag", after: ["#1"] },
      ],
    });
    const { projectId } = project;
    const [first, second] = project.tasks;
    const claimed = await call<{ task: ProjectTask }>(agent, "claim_next_task", { projectId });
    expect(claimed.task).toMatchObject({ id: first?.id, status: "in progress" });
    expect(claimed.task.assignee).toContain("builder");
    // Its dependency is not done: nothing else is ready.
    expect(
      (await call<{ task: ProjectTask | null }>(agent, "claim_next_task", { projectId })).task,
    ).toBeNull();

    const noDetails = await refused(agent, "update_task", { projectId, taskId: first?.id, status: "done" });
    expect(noDetails).toMatchObject({ details: { rule: "completed-details" } });
    expect(noDetails.hint, JSON.stringify(noDetails)).toContain("completedDetails");
    const notDone = await refused(agent, "finalize_project", { projectId });
    expect(notDone).toMatchObject({ details: { rule: "not-all-done" } });
    const early = await refused(agent, "approve_task", { projectId, taskId: first?.id });
    expect(early).toMatchObject({ details: { rule: "not-done" } });
    const done = await call<ProjectTask>(agent, "update_task", {
      projectId,
      taskId: first?.id,
      status: "done",
      completedDetails: "notes in CHANGELOG.md",
    });
    expect(done).toMatchObject({ status: "done", approved: false });
    expect(
      (await call<{ tasks: ProjectTask[] }>(agent, "list_tasks", { projectId, state: "pending_approval" }))
        .tasks,
    ).toHaveLength(1);
    expect(await call(agent, "approve_task", { projectId, taskId: first?.id })).toMatchObject({
      approved: true,
    });
    const frozen = await refused(agent, "update_task", { projectId, taskId: first?.id, title: "changed" });
    expect(frozen).toMatchObject({ details: { rule: "approved-frozen" } });
    const backwards = await refused(agent, "update_task", { projectId, taskId: second?.id, status: "done" });
    expect(backwards.code).toBeTruthy();

    const next = await call<{ task: ProjectTask }>(agent, "get_next_task", { projectId, claim: true });
    expect(next.task.id).toBe(second?.id);
    await call(agent, "update_task", {
      projectId,
      taskId: second?.id,
      status: "done",
      completedDetails: "v1.0.0",
    });
    await call(agent, "approve_task", { projectId, taskId: second?.id });
    expect(await call(agent, "finalize_project", { projectId })).toMatchObject({ completed: true });
    expect(await call(agent, "read_task", { taskId: second?.id })).toMatchObject({
      status: "done",
      approved: true,
    });
    const { projects } = await call<{ projects: { projectId: string; completed: boolean }[] }>(
      agent,
      "list_projects",
      { state: "completed" },
    );
    expect(projects.map((listed) => listed.projectId)).toContain(projectId);
  });

  it("gives each of 100 tasks to exactly one of 20 agents racing over /mcp", async () => {
    const tasks = Array.from({ length: 100 }, (_, i) => ({ title: `item ${i + 1}`, description: "race" }));
    const { projectId } = await call<{ projectId: string }>(agent, "create_project", {
      initialPrompt: "race",
      tasks,
    });
    const racers = await Promise.all(Array.from({ length: 20 }, (_, i) => fleet.http(`racer-${i}`)));
    const won = await Promise.all(
      racers.map(async (racer) => {
        const mine: string[] = [];
        for (;;) {
          const { task } = await call<{ task: ProjectTask | null }>(racer, "claim_next_task", { projectId });
          if (task === null) return mine;
          mine.push(task.id);
        }
      }),
    );
    const all = won.flat();
    expect(all).toHaveLength(100);
    expect(new Set(all).size).toBe(100);
  });

  it("runs a project task that carries a command on the fleet; its result becomes completedDetails", async () => {
    const { projectId, tasks } = await call<{ projectId: string; tasks: ProjectTask[] }>(
      agent,
      "create_project",
      {
        initialPrompt: "build",
        autoApprove: true,
        tasks: [
          { title: "compile", description: "run on a node", run: { argv: ["sh", "-c", "echo compiled"] } },
        ],
      },
    );
    const taskId = tasks[0]?.id;
    let task = await call<ProjectTask>(agent, "read_task", { taskId });
    while (task.status !== "done") task = await call(agent, "read_task", { taskId });
    expect(task.approved).toBe(true);
    expect(task.completedDetails).toContain("compiled");
    expect(await call(agent, "finalize_project", { projectId })).toMatchObject({ completed: true });
  });

  it("does not offer approve_task to a token that may not approve", async () => {
    const laptop = await fleet.http("laptop-agent", SUBMIT_TOKEN);
    const names = (await laptop.listTools()).tools.map((tool) => tool.name);
    expect(names).not.toContain("approve_task");
    expect(names).toContain("claim_next_task");
  });
});
