import { connect, type FlotillaClient } from "@flotilla/client";
import { createAgent } from "@flotilla/node-agent";
import type { ProjectTask } from "@flotilla/protocol";
import { waitFor } from "@flotilla/testing";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { startFleet, type TestFleet, testCoordinator, testFingerprint } from "./fleet.js";

let fleet: TestFleet | undefined;
afterEach(async () => {
  await fleet?.dispose();
  fleet = undefined;
});

/** Waits until the task satisfies `check`, and returns it. */
async function taskWhen(
  client: FlotillaClient,
  taskId: string,
  check: (task: ProjectTask) => boolean,
  what: string,
): Promise<ProjectTask> {
  return await waitFor(
    async () => {
      const task = await client.projects.readTask(taskId);
      return check(task) ? task : undefined;
    },
    { timeoutMs: 20_000, what },
  );
}

describe("project tasks run by the fleet", () => {
  it("runs a ready `run` task on an agent: its result becomes completedDetails, a failure gives it back", async () => {
    fleet = await startFleet();
    await fleet.addAgent({ id: "n1" });
    const client = await fleet.client();
    const failures = new Redis(fleet.redis.url);
    const seen: string[] = [];
    failures.on("message", (_channel: string, message: string) => seen.push(message));
    await failures.subscribe("events:errors:task_failures");
    const project = await client.projects.create({
      initialPrompt: "Build and check",
      autoApprove: true,
      tasks: [
        { title: "build", description: "b", run: { argv: ["sh", "-c", "echo hello; echo world"] } },
        {
          title: "check",
          description: "c",
          after: ["#1"],
          run: { argv: ["sh", "-c", "echo bad >&2; exit 3"] },
        },
      ],
    });
    const [build, check] = project.tasks as [ProjectTask, ProjectTask];
    // A run task is the fleet's: no agent can claim it.
    expect((await client.projects.claimNext({ projectId: project.projectId })).task).toBeNull();
    const built = await taskWhen(
      client,
      build.id,
      (task) => task.status === "done",
      "the build run to finish",
    );
    expect(built.approved).toBe(true);
    expect(built.assignee).toBe("fleet");
    expect(built.fleetTaskId).toMatch(/.+/);
    expect(built.completedDetails).toContain("exit code 0");
    expect(built.completedDetails).toContain("world");
    const checked = await taskWhen(
      client,
      check.id,
      (task) => task.completedDetails.startsWith("FAILED:"),
      "the check run to fail",
    );
    expect(checked.status).toBe("not started");
    expect(checked.completedDetails).toContain("exit code 3");
    expect(checked.completedDetails).toContain("bad");
    await waitFor(() => seen.some((entry) => entry.includes(check.id)), { what: "the run's failure event" });
    // The fleet task is an ordinary one, labelled with its project task.
    const record = await client.task(built.fleetTaskId as string);
    expect(record.spec.labels).toEqual({ project: project.projectId, projectTask: build.id });
    failures.disconnect();
  });

  it("carries a run across a coordinator restart", async () => {
    fleet = await startFleet();
    const first = await fleet.client();
    const project = await first.projects.create({
      initialPrompt: "Survive a restart",
      tasks: [{ title: "run", description: "r", run: { argv: ["sh", "-c", "echo survived"] } }],
    });
    const taskId = project.tasks[0]?.id as string;
    // Submitted, but no node to run it yet.
    await taskWhen(first, taskId, (task) => task.fleetTaskId !== undefined, "the run to be submitted");
    await fleet.coordinator.stop();
    first.close();
    fleet.clients = [];

    const second = testCoordinator(fleet.redis.url);
    await second.start();
    fleet.coordinator = second;
    const agent = createAgent({
      id: "n2",
      coordinatorUrl: second.url,
      token: fleet.token,
      slots: 2,
      logger: pino({ level: "silent" }),
      fingerprint: testFingerprint(),
      killGraceMs: 1000,
      shutdownGraceMs: 1000,
    });
    await agent.start();
    fleet.agents.push(agent);
    const client = await connect({ url: second.url, token: fleet.token });
    fleet.clients.push(client);
    const done = await taskWhen(client, taskId, (task) => task.status === "done", "the run to finish");
    expect(done.completedDetails).toContain("survived");
    expect(done.approved).toBe(false);
  });
});
