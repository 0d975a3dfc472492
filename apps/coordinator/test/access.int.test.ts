import { waitFor } from "@flotilla/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACCESS, allows, type Operation } from "../src/access.js";
import type { ScopeKind } from "../src/auth.js";
import { tokenHash } from "../src/auth.js";
import { startFleet, type TestFleet } from "./fleet.js";
import { envelope, agentHello as hello, type Reply, rawSocket } from "./raw.js";

type Raw = Awaited<ReturnType<typeof rawSocket>>;

/** A valid frame of each type a connection may send, by operation, sent as `from`. */
function frameFor(operation: string, from: string, id: string): Record<string, unknown> {
  const [, type] = operation.split(" ") as [string, string];
  const task = { taskId: "t-none", epoch: 1 };
  const fields: Record<string, Record<string, unknown>> = {
    "task.submit": { spec: { kind: "exec", argv: ["true"] } },
    "task.submitMany": { specs: [{ kind: "exec", argv: ["true"] }] },
    "task.cancel": { taskId: "t-none" },
    "task.watch": { taskId: "t-none" },
    "task.unwatch": { taskId: "t-none" },
    "task.get": { taskId: "t-none" },
    "task.events": { taskId: "t-none" },
    "tasks.list": {},
    "nodes.list": {},
    "events.watch": {},
    "discovery.query": {},
    "dlq.list": {},
    "dlq.get": { taskId: "t-none" },
    "dlq.retry": { taskId: "t-none" },
    "dlq.purge": { taskId: "t-none" },
    "alerts.list": { all: true },
    "history.get": { minutes: 5 },
    "node.drain": { nodeId: "nobody" },
    "node.undrain": { nodeId: "nobody" },
    broadcast: { message: "hi" },
    direct: { to: "nobody", message: "hi" },
    "topic.publish": { topic: "builds", message: "hi" },
    "topic.read": { topic: "builds" },
    "inbox.read": { agentId: "x" },
    "output.read": { taskId: "t-none" },
    heartbeat: { capabilities: [], status: "ready" },
    "agent.bye": {},
    "task.accept": task,
    "task.reject": { ...task, reason: "no", code: "E_SPAWN" },
    "task.output": { ...task, stream: "stdout", seq: 0, data: "x" },
    "task.progress": { ...task, percent: 1 },
    "task.finish": { ...task, outcome: "succeeded", exitCode: 0, signal: null, durationMs: 1 },
    "steal.request": { freeSlots: 1 },
    "projects.list": {},
    "project.read": { projectId: "proj-999" },
    "project.create": { initialPrompt: "walk", tasks: [] },
    "project.delete": { projectId: "proj-999" },
    "project.addTasks": { projectId: "proj-999", tasks: [{ title: "t", description: "d" }] },
    "project.finalize": { projectId: "proj-999" },
    "project.tasks.list": {},
    "project.task.read": { taskId: "task-999" },
    "project.task.create": { projectId: "proj-999", task: { title: "t", description: "d" } },
    "project.task.update": { projectId: "proj-999", taskId: "task-999", update: {} },
    "project.task.delete": { projectId: "proj-999", taskId: "task-999" },
    "project.task.approve": { projectId: "proj-999", taskId: "task-999" },
    "project.task.next": { projectId: "proj-999" },
    "project.task.claim": { projectId: "proj-999" },
  };
  if (type === "agent.hello") return hello(from, id);
  const body = fields[type];
  if (body === undefined) throw new Error(`no test frame for ${operation}`);
  return { ...envelope(type, body, id), from };
}

/** Sends `frame`, then a probe; once the probe is answered, whether `frame` was refused as forbidden. */
async function refused(socket: Raw, frame: Record<string, unknown>, from: string): Promise<boolean> {
  const probe = `probe-${frame.id as string}`;
  socket.socket.send(JSON.stringify(frame));
  socket.socket.send(JSON.stringify({ ...envelope("discovery.query", {}, probe), from }));
  await socket.next((reply) => reply.replyTo === probe);
  return socket.inbox.some((reply) => reply.replyTo === frame.id && reply.code === "E_FORBIDDEN");
}

function result(reply: Reply): Record<string, unknown> {
  return (reply as unknown as { result: Record<string, unknown> }).result;
}

const TOKENS: Record<ScopeKind, string> = {
  admin: "test-token",
  submit: "laptop-secret",
  read: "wall-secret",
  agent: "token-x",
};

describe("scoped tokens over WebSocket and HTTP", () => {
  let fleet: TestFleet;
  let http: string;

  beforeAll(async () => {
    fleet = await startFleet({
      nodeTokens: { x: "token-x", a: "token-a", b: "token-b" },
      tokens: [
        { name: "laptop", scope: "submit", hash: tokenHash("laptop-secret") },
        { name: "wall", scope: "read", hash: tokenHash("wall-secret") },
        { name: "ops", scope: "admin", hash: tokenHash("ops-secret") },
      ],
    });
    http = fleet.coordinator.url.replace("ws:", "http:");
  }, 30_000);
  afterAll(async () => {
    await fleet?.dispose();
  });

  it("walks the whole table: every scope × every operation, allowed or E_FORBIDDEN", async () => {
    const operations = Object.keys(ACCESS) as Operation[];
    for (const scope of Object.keys(TOKENS) as ScopeKind[]) {
      const token = TOKENS[scope];
      for (const endpoint of ["client", "agent"] as const) {
        const socket = await rawSocket(fleet, `/v1/${endpoint}`, token);
        // An agent token speaks as its node; an admin one as a node with no token of its own.
        const from = scope === "agent" ? "x" : endpoint === "agent" ? "w-admin" : "walker";
        if (endpoint === "agent" && allows(scope, "agent agent.hello")) {
          socket.socket.send(JSON.stringify(hello(from, "walk-hello")));
          await socket.next((reply) => reply.type === "agent.welcome");
        }
        for (const operation of operations.filter((name) => name.startsWith(`${endpoint} `))) {
          const frame = frameFor(operation, from, `${scope}-${operation.replace(/\W/g, "_")}`);
          expect([operation, scope, await refused(socket, frame, from)]).toEqual([
            operation,
            scope,
            !allows(scope, operation),
          ]);
        }
        socket.socket.close();
      }
      const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
      const statuses = {
        "POST /v1/tasks": (
          await fetch(`${http}/v1/tasks`, {
            method: "POST",
            headers,
            body: JSON.stringify({ kind: "exec", argv: ["true"] }),
          })
        ).status,
        "GET /v1/tasks/:id": (await fetch(`${http}/v1/tasks/t-none`, { headers })).status,
        "GET /v1/whoami": (await fetch(`${http}/v1/whoami`, { headers })).status,
        "GET /metrics": (await fetch(`${http}/metrics`, { headers })).status,
        "POST /mcp": (
          await fetch(`${http}/mcp`, {
            method: "POST",
            headers: { ...headers, accept: "application/json, text/event-stream" },
            body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
          })
        ).status,
      };
      for (const [operation, status] of Object.entries(statuses)) {
        const expected = allows(scope, operation) ? [202, 404, 200] : [403];
        expect([operation, scope, expected.includes(status)]).toEqual([operation, scope, true]);
      }
    }
    // The table covers every HTTP route and no token at all is 401, not 403.
    expect(operations.filter((name) => !name.startsWith("client ") && !name.startsWith("agent "))).toEqual([
      "POST /v1/tasks",
      "GET /v1/tasks/:id",
      "GET /v1/whoami",
      "GET /metrics",
      "POST /mcp",
    ]);
    expect((await fetch(`${http}/metrics`)).status).toBe(401);
    expect((await fetch(`${http}/mcp`, { method: "POST", body: "{}" })).status).toBe(401);
    const forbidden = await fetch(`${http}/v1/tasks`, {
      method: "POST",
      headers: { authorization: "Bearer wall-secret" },
      body: JSON.stringify({ kind: "exec", argv: ["true"] }),
    });
    expect(forbidden.status).toBe(403);
    const body = (await forbidden.json()) as { code: string; message: string };
    expect(body.code).toBe("E_FORBIDDEN");
    expect(body.message).toContain("scope read");
    expect(body.message).toContain("POST /v1/tasks");
  }, 60_000);

  it("refuses an agent token's hello as another node, and a second hello with another token", async () => {
    const impostor = await rawSocket(fleet, "/v1/agent", "token-a");
    impostor.socket.send(JSON.stringify(hello("b", "as-b")));
    expect((await impostor.next((reply) => reply.replyTo === "as-b")).code).toBe("E_FORBIDDEN");
    expect(await impostor.closed).toBe(1008);

    const first = await rawSocket(fleet, "/v1/agent", "test-token");
    first.socket.send(JSON.stringify(hello("shared", "first")));
    await first.next((reply) => reply.type === "agent.welcome");
    const second = await rawSocket(fleet, "/v1/agent", "ops-secret");
    second.socket.send(JSON.stringify(hello("shared", "second")));
    const refusal = await second.next((reply) => reply.replyTo === "second");
    expect(refusal.code).toBe("E_FORBIDDEN");
    expect(await second.closed).toBe(1008);
    // The connected agent keeps its session: it still speaks for the node.
    first.socket.send(JSON.stringify({ ...envelope("discovery.query", {}, "still"), from: "shared" }));
    expect((await first.next((reply) => reply.replyTo === "still")).type).toBe("discovery.response");
    expect(first.closeCode()).toBeUndefined();
    first.socket.close();
  });

  it("refuses a report on a run leased to another node, leaves the task alone and counts it", async () => {
    const a = await rawSocket(fleet, "/v1/agent", "token-a");
    a.socket.send(JSON.stringify(hello("a", "hello-a")));
    await a.next((reply) => reply.type === "agent.welcome");
    const b = await rawSocket(fleet, "/v1/agent", "token-b");
    b.socket.send(JSON.stringify(hello("b", "hello-b")));
    await b.next((reply) => reply.type === "agent.welcome");
    const client = await rawSocket(fleet, "/v1/client");
    client.socket.send(
      JSON.stringify(
        envelope("task.submit", { spec: { kind: "exec", argv: ["true"], node: "a" } }, "pinned"),
      ),
    );
    const assign = (await a.next((reply) => reply.type === "task.assign")) as Reply & { epoch: number };
    const taskId = assign.taskId as string;
    const finish = {
      taskId,
      epoch: assign.epoch,
      outcome: "failed",
      exitCode: 1,
      signal: null,
      durationMs: 1,
    };
    b.socket.send(JSON.stringify({ ...envelope("task.finish", finish, "foreign"), from: "b" }));
    expect((await b.next((reply) => reply.replyTo === "foreign")).code).toBe("E_FORBIDDEN");
    const metrics = await (
      await fetch(`${http}/metrics`, { headers: { authorization: "Bearer wall-secret" } })
    ).text();
    expect(metrics).toMatch(/^flotilla_foreign_frames_total [1-9]/m);
    client.socket.send(JSON.stringify(envelope("task.get", { taskId }, "after-foreign")));
    expect(result(await client.next((reply) => reply.replyTo === "after-foreign")).state).toBe("leased");
    // The node it is leased to finishes it as usual.
    a.socket.send(
      JSON.stringify({
        ...envelope("task.finish", { ...finish, outcome: "succeeded", exitCode: 0 }),
        from: "a",
      }),
    );
    await waitFor(async () => {
      client.socket.send(JSON.stringify(envelope("task.get", { taskId }, `get-${Date.now()}`)));
      const reply = await client.next((r) => r.replyTo?.startsWith("get-") === true);
      client.inbox.splice(client.inbox.indexOf(reply), 1);
      return result(reply).state === "succeeded";
    });
    for (const socket of [a, b, client]) socket.socket.close();
  });

  it("ignores the reserved node: and handler: capabilities an agent claims", async () => {
    const agent = await rawSocket(fleet, "/v1/agent", "test-token");
    agent.socket.send(JSON.stringify(hello("claimer", "claim", ["gpu", "node:a", "handler:deploy"])));
    await agent.next((reply) => reply.type === "agent.welcome");
    const client = await rawSocket(fleet, "/v1/client", "wall-secret");
    client.socket.send(JSON.stringify(envelope("nodes.list", {}, "nodes")));
    const nodes = result(await client.next((reply) => reply.replyTo === "nodes")).nodes as {
      id: string;
      capabilities: string[];
    }[];
    expect(nodes.find((node) => node.id === "claimer")?.capabilities).toEqual(["gpu"]);
    // A heartbeat cannot claim them either.
    agent.socket.send(
      JSON.stringify({
        ...envelope("heartbeat", { capabilities: ["node:b", "cuda"], status: "ready" }),
        from: "claimer",
      }),
    );
    await waitFor(async () => {
      client.socket.send(JSON.stringify(envelope("nodes.list", {}, `nodes-${Date.now()}`)));
      const reply = await client.next((r) => r.replyTo?.startsWith("nodes-") === true);
      client.inbox.splice(client.inbox.indexOf(reply), 1);
      const listed = (result(reply).nodes as { id: string; capabilities: string[] }[]).find(
        (node) => node.id === "claimer",
      );
      return JSON.stringify(listed?.capabilities) === JSON.stringify(["cuda"]);
    });
    for (const socket of [agent, client]) socket.socket.close();
  });

  it("names the submitting token as submitter, and lets a submit token cancel only its own tasks", async () => {
    const laptop = await rawSocket(fleet, "/v1/client", "laptop-secret");
    laptop.socket.send(
      JSON.stringify(
        envelope(
          "task.submit",
          { spec: { kind: "exec", argv: ["true"], node: "gone", submitter: "mallory" } },
          "s1",
        ),
      ),
    );
    const own = (await laptop.next((reply) => reply.replyTo === "s1")).taskId as string;
    laptop.socket.send(JSON.stringify(envelope("task.get", { taskId: own }, "g1")));
    expect(result(await laptop.next((reply) => reply.replyTo === "g1")).submitter).toBe("laptop");
    const posted = await fetch(`${http}/v1/tasks`, {
      method: "POST",
      headers: { authorization: "Bearer test-token" },
      body: JSON.stringify({ kind: "exec", argv: ["true"], node: "gone", submitter: "laptop" }),
    });
    const other = ((await posted.json()) as { taskId: string }).taskId;
    const read = (await (
      await fetch(`${http}/v1/tasks/${other}`, { headers: { authorization: "Bearer laptop-secret" } })
    ).json()) as { submitter: string };
    expect(read.submitter).toBe("fleet");
    laptop.socket.send(JSON.stringify(envelope("task.cancel", { taskId: other }, "c-other")));
    const refusal = await laptop.next((reply) => reply.replyTo === "c-other");
    expect(refusal.code).toBe("E_FORBIDDEN");
    laptop.socket.send(JSON.stringify(envelope("task.cancel", { taskId: own }, "c-own")));
    expect(result(await laptop.next((reply) => reply.replyTo === "c-own")).ok).toBe(true);
    laptop.socket.close();
  });
});
