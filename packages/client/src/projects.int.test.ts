import type { Message } from "@flotilla/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { connect } from "./client.js";
import { FakeCoordinator } from "./testing.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A coordinator double that answers every project request with `{ task: null }`. */
async function fake(): Promise<FakeCoordinator> {
  const coordinator = await FakeCoordinator.start({
    intercept: (message: Message, socket) => {
      if (!message.type.startsWith("project")) return false;
      socket.send(
        JSON.stringify({
          v: 1,
          type: "reply",
          id: `r-${message.id}`,
          timestamp: new Date().toISOString(),
          from: "coordinator",
          replyTo: message.id,
          result: { task: null, projects: [], tasks: [] },
        }),
      );
      return true;
    },
  });
  cleanups.push(() => coordinator.close());
  return coordinator;
}

describe("client.projects", () => {
  it("sends who acts from the connection's options, never from a method's arguments", async () => {
    const coordinator = await fake();
    const client = await connect({ url: coordinator.url, agent: "claude", capabilities: ["macos", "gpu"] });
    cleanups.push(() => client.close());
    await client.projects.claimNext({ projectId: "proj-1" });
    await client.projects.nextTask("proj-1", { claim: true });
    await client.projects.updateTask("proj-1", "task-2", { status: "in progress" });
    expect(await client.projects.list("open")).toEqual([]);
    expect(await client.projects.listTasks()).toEqual([]);
    expect(coordinator.requests("project.task.claim")[0]).toMatchObject({
      projectId: "proj-1",
      agent: "claude",
      capabilities: ["macos", "gpu"],
    });
    expect(coordinator.requests("project.task.next")[0]).toMatchObject({ claim: true, agent: "claude" });
    expect(coordinator.requests("project.task.update")[0]).toMatchObject({
      taskId: "task-2",
      update: { status: "in progress" },
      agent: "claude",
    });
    expect(coordinator.requests("projects.list")[0]).toMatchObject({ state: "open" });
  });

  it("leaves agent and capabilities out when the connection names none", async () => {
    const coordinator = await fake();
    const client = await connect({ url: coordinator.url });
    cleanups.push(() => client.close());
    await client.projects.claimNext();
    const frame = coordinator.requests("project.task.claim")[0] as Record<string, unknown>;
    expect(frame.agent).toBeUndefined();
    expect(frame.capabilities).toBeUndefined();
    expect(frame.projectId).toBeUndefined();
  });
});
