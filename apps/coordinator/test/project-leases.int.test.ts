import { waitFor } from "@flotilla/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFleet, type TestFleet } from "./fleet.js";
import { agentClient, listen, MAC_TOKEN, tokens, VPS_TOKEN } from "./projects.js";

describe("project claim leases", () => {
  let fleet: TestFleet;

  beforeAll(async () => {
    fleet = await startFleet({ tokens, projectClaimLeaseMs: 2000 });
  }, 30_000);
  afterAll(async () => {
    await fleet?.dispose();
  });

  it("gives a lapsed claim back with an update and a failure event; updates from the holder renew it", async () => {
    const failures = await listen(fleet, "events:errors:task_failures");
    const mac = await agentClient(fleet, MAC_TOKEN, "claude");
    const vps = await agentClient(fleet, VPS_TOKEN, "codex");
    const project = await mac.projects.create({
      initialPrompt: "Leases",
      tasks: [{ title: "A", description: "a" }],
    });
    const claimed = await mac.projects.claimNext();
    const taskId = claimed.task?.id as string;
    const firstExpiry = claimed.task?.leaseExpiresAt as number;
    const renewed = await mac.projects.updateTask(project.projectId, taskId, {});
    expect(renewed.leaseExpiresAt).toBeGreaterThanOrEqual(firstExpiry);
    // The holder vanishes: the sweep gives the task back.
    mac.close();
    const failure = await waitFor(
      () => failures.seen.find((f) => (f as { taskId: string }).taskId === taskId),
      {
        what: "the expired claim's failure event",
      },
    );
    expect(failure).toMatchObject({ projectId: project.projectId, agent: "mac/claude" });
    expect((failure as { reason: string }).reason).toContain("claim expired");
    const back = await vps.projects.readTask(taskId);
    expect(back).toMatchObject({ status: "not started" });
    expect(back.assignee).toBeUndefined();
    expect((await vps.projects.claimNext()).task?.assignee).toBe("vps/codex");
    failures.close();
  });
});
