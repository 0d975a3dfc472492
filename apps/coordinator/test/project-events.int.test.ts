import type { FlotillaClient } from "@flotilla/client";
import type { Message } from "@flotilla/protocol";
import { waitFor } from "@flotilla/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFleet, type TestFleet } from "./fleet.js";
import { agentClient, listen, MAC_TOKEN, tokens } from "./projects.js";

/** The `project.updated` fleet events a client's `events()` brought, as their data. */
function projectUpdates(seen: readonly Message[]): Record<string, unknown>[] {
  return seen
    .filter((message) => message.type === "broadcast" && message.message === "project.updated")
    .map((message) => (message as { data: Record<string, unknown> }).data);
}

describe("project changes pushed to connections that watch the fleet's events", () => {
  let fleet: TestFleet;
  let admin: FlotillaClient;
  let mac: FlotillaClient;
  const seen: Message[] = [];

  beforeAll(async () => {
    fleet = await startFleet({ tokens });
    admin = await fleet.client();
    mac = await agentClient(fleet, MAC_TOKEN, "claude");
    void (async () => {
      for await (const message of admin.events()) seen.push(message);
    })().catch(() => undefined); // the stream ends with the client
    // Answered once the coordinator has registered the watch.
    await admin.request("events.watch", {});
  }, 30_000);
  afterAll(async () => {
    await fleet?.dispose();
  });

  it("forwards every update published on events:tasks:updates, and the project's own changes", async () => {
    const redis = await listen(fleet, "events:tasks:updates");
    const project = await mac.projects.create({
      initialPrompt: "Tidy the docs",
      tasks: [{ title: "Tidy", description: "Tidy them" }],
    });
    const task = project.tasks[0];
    if (!task) throw new Error("no task created");
    await mac.projects.nextTask(project.projectId, { claim: true });
    await mac.projects.updateTask(project.projectId, task.id, { status: "done", completedDetails: "tidy" });
    await admin.projects.approveTask(project.projectId, task.id);
    await admin.projects.finalize(project.projectId);

    const statuses = () =>
      projectUpdates(seen)
        .filter((update) => update.projectId === project.projectId)
        .map((update) => update.status);
    await waitFor(() => statuses().includes("finalized"), { what: "the finalized project's update" });
    expect(statuses()).toEqual(["not started", "in progress", "done", "approved", "finalized"]);
    // What bridges read on Redis reaches the page too, field for field.
    await waitFor(() => redis.seen.length >= 4, { what: "the updates on Redis" });
    const forwarded = projectUpdates(seen).filter((update) => update.status !== "finalized");
    for (const [index, update] of redis.seen.entries())
      expect(forwarded[index]).toMatchObject(update as object);
    expect(forwarded[1]).toMatchObject({ from: "coordinator", type: "project.updated", agent: "mac/claude" });
    redis.close();
  });

  it("announces a project deleted without tasks", async () => {
    const empty = await admin.projects.create({ initialPrompt: "Nothing yet", tasks: [] });
    await admin.projects.delete(empty.projectId);
    await waitFor(
      () =>
        projectUpdates(seen).some(
          (update) => update.projectId === empty.projectId && update.status === "deleted",
        ),
      { what: "the deleted project's update" },
    );
    expect(
      projectUpdates(seen).find(
        (update) => update.projectId === empty.projectId && update.status === "created",
      ),
    ).toBeDefined();
  });
});
