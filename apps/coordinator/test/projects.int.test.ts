import type { FlotillaClient } from "@flotilla/client";
import type { ProjectTask } from "@flotilla/protocol";
import { waitFor } from "@flotilla/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFleet, type TestFleet } from "./fleet.js";
import { agentClient, listen, MAC_TOKEN, refusal, tokens, VPS_TOKEN } from "./projects.js";

describe("projects against a real Redis and coordinator", () => {
  let fleet: TestFleet;
  let admin: FlotillaClient;
  let mac: FlotillaClient;
  let vps: FlotillaClient;

  beforeAll(async () => {
    fleet = await startFleet({ tokens });
    admin = await fleet.client();
    mac = await agentClient(fleet, MAC_TOKEN, "claude", ["macos"]);
    vps = await agentClient(fleet, VPS_TOKEN, "codex", ["linux"]);
  }, 30_000);
  afterAll(async () => {
    await fleet?.dispose();
  });

  it("runs the whole flow: create → claim → in progress → done → approve → finalize", async () => {
    const updates = await listen(fleet, "events:tasks:updates");
    const project = await mac.projects.create({
      initialPrompt: "Ship the release",
      tasks: [
        { title: "Build", description: "Build it", needs: ["macos"] },
        { title: "Notes", description: "Write the notes", after: ["#1"] },
      ],
    });
    expect(project.projectId).toMatch(/^proj-\d+$/);
    expect(project.projectPlan).toBe("Ship the release");
    const [build, notes] = project.tasks as [ProjectTask, ProjectTask];
    expect(notes.after).toEqual([build.id]);
    expect(build).toMatchObject({ status: "not started", approved: false, completedDetails: "" });

    // Peeking claims nothing; the vps agent lacks `macos`, and Notes waits for Build.
    expect((await mac.projects.nextTask(project.projectId)).task?.id).toBe(build.id);
    const none = await vps.projects.claimNext({ projectId: project.projectId });
    expect(none.task).toBeNull();
    expect(none.message).toContain("capabilities you lack");

    const claimed = await mac.projects.nextTask(project.projectId, { claim: true });
    expect(claimed.task).toMatchObject({ id: build.id, status: "in progress", assignee: "mac/claude" });
    expect(claimed.task?.leaseExpiresAt).toBeGreaterThan(Date.now());
    // The holder's task comes first when it asks again.
    expect((await mac.projects.nextTask(project.projectId)).task?.id).toBe(build.id);

    expect(await refusal(mac.projects.updateTask(project.projectId, build.id, { status: "done" }))).toEqual({
      code: "E_TASK_STATE",
      rule: "completed-details",
    });
    const done = await mac.projects.updateTask(project.projectId, build.id, {
      status: "done",
      completedDetails: "built in 3 min",
    });
    expect(done).toMatchObject({ status: "done", approved: false, completedDetails: "built in 3 min" });
    expect(done.leaseExpiresAt).toBeUndefined();
    expect(
      await refusal(mac.projects.updateTask(project.projectId, build.id, { status: "in progress" })),
    ).toEqual({
      code: "E_TASK_STATE",
      rule: "forward-only",
    });
    expect(
      (await mac.projects.listTasks({ projectId: project.projectId, state: "pending_approval" })).map(
        (t) => t.id,
      ),
    ).toEqual([build.id]);

    // Approval is a person's act: the agent's submit token may not approve.
    expect(await refusal(mac.projects.approveTask(project.projectId, build.id))).toMatchObject({
      code: "E_FORBIDDEN",
    });
    expect(await refusal(mac.projects.finalize(project.projectId))).toEqual({
      code: "E_PROJECT_STATE",
      rule: "not-all-done",
    });
    expect((await admin.projects.approveTask(project.projectId, build.id)).approved).toBe(true);

    const next = await vps.projects.claimNext();
    expect(next.task).toMatchObject({ id: notes.id, assignee: "vps/codex" });
    await vps.projects.updateTask(project.projectId, notes.id, {
      status: "done",
      completedDetails: "written",
    });
    expect(await refusal(mac.projects.finalize(project.projectId))).toEqual({
      code: "E_PROJECT_STATE",
      rule: "not-all-approved",
    });
    expect((await admin.projects.list("pending_approval")).map((p) => p.projectId)).toContain(
      project.projectId,
    );
    await admin.projects.approveTask(project.projectId, notes.id);
    expect((await mac.projects.nextTask(project.projectId)).message).toContain("Awaiting project completion");

    const final = await mac.projects.finalize(project.projectId);
    expect(final.completed).toBe(true);
    expect(await refusal(mac.projects.finalize(project.projectId))).toEqual({
      code: "E_PROJECT_STATE",
      rule: "finalized",
    });
    expect(await refusal(mac.projects.nextTask(project.projectId))).toEqual({
      code: "E_PROJECT_STATE",
      rule: "finalized",
    });
    expect(await refusal(mac.projects.updateTask(project.projectId, notes.id, { title: "late" }))).toEqual({
      code: "E_PROJECT_STATE",
      rule: "finalized",
    });
    const summaries = await mac.projects.list("completed");
    expect(summaries.find((p) => p.projectId === project.projectId)).toMatchObject({
      totalTasks: 2,
      completedTasks: 2,
      approvedTasks: 2,
      completed: true,
    });
    expect((await mac.projects.list("open")).map((p) => p.projectId)).not.toContain(project.projectId);

    const doneEvent = await waitFor(() =>
      updates.seen.find(
        (event) =>
          (event as { taskId: string; status: string }).taskId === build.id &&
          (event as { status: string }).status === "done",
      ),
    );
    expect(doneEvent).toEqual({
      projectId: project.projectId,
      taskId: build.id,
      status: "done",
      agent: "mac/claude",
      completionTime: expect.any(Number),
    });
    updates.close();
    const redis = new Redis(fleet.redis.url);
    const distribution = await redis.hgetall("metrics:task_distribution");
    redis.disconnect();
    expect(Number(distribution["projects:claims"])).toBeGreaterThanOrEqual(2);
    expect(Number(distribution["projects:claims:mac/claude"])).toBeGreaterThanOrEqual(1);
  });

  it("refuses every broken rule with its code and rule", async () => {
    const p = await mac.projects.create({
      initialPrompt: "Rules",
      autoApprove: true,
      tasks: [
        { title: "A", description: "a" },
        { title: "B", description: "b", after: ["#1"] },
        { title: "C", description: "c" },
      ],
    });
    const [a, b, c] = p.tasks.map((task) => task.id) as [string, string, string];
    const id = p.projectId;

    expect(await refusal(mac.projects.read("proj-99999"))).toEqual({
      code: "E_NOT_FOUND",
      rule: "no-project",
    });
    expect(await refusal(mac.projects.readTask(a, "proj-99999"))).toEqual({
      code: "E_NOT_FOUND",
      rule: "no-task",
    });
    expect(await refusal(mac.projects.updateTask(id, "task-99999", {}))).toEqual({
      code: "E_NOT_FOUND",
      rule: "no-task",
    });
    // Dependencies: unknown, into the same call, cycles.
    expect(
      await refusal(mac.projects.addTasks(id, [{ title: "X", description: "x", after: ["task-99999"] }])),
    ).toEqual({ code: "E_DEPENDENCY", rule: "unknown-dep" });
    expect(
      await refusal(
        mac.projects.addTasks(id, [
          { title: "X", description: "x", after: ["#2"] },
          { title: "Y", description: "y", after: ["#1"] },
        ]),
      ),
    ).toEqual({ code: "E_DEPENDENCY", rule: "cycle" });
    expect(await refusal(mac.projects.updateTask(id, a, { after: [b] }))).toEqual({
      code: "E_DEPENDENCY",
      rule: "cycle",
    });
    expect(await refusal(mac.projects.updateTask(id, b, { status: "in progress" }))).toEqual({
      code: "E_DEPENDENCY",
      rule: "after-not-done",
    });
    // Claims: another agent cannot move a held task.
    await mac.projects.updateTask(id, a, { status: "in progress" });
    expect(await refusal(vps.projects.updateTask(id, a, { status: "not started" }))).toEqual({
      code: "E_TASK_STATE",
      rule: "claimed",
    });
    // Forward only, but back to not started is allowed (and frees the claim); FAILED: details are a failure.
    const failures = await listen(fleet, "events:errors:task_failures");
    const back = await mac.projects.updateTask(id, a, {
      status: "not started",
      completedDetails: "FAILED: the build needs a GPU",
    });
    expect(back.assignee).toBeUndefined();
    const givenBack = await waitFor(() =>
      failures.seen.find((f) => (f as { reason: string }).reason === "FAILED: the build needs a GPU"),
    );
    expect(givenBack).toMatchObject({ taskId: a, agent: "mac/claude" });
    failures.close();
    await mac.projects.updateTask(id, a, { status: "in progress" });
    // autoApprove: done is approved at once, and an approved task is frozen.
    const doneA = await mac.projects.updateTask(id, a, { status: "done", completedDetails: "ok" });
    expect(doneA.approved).toBe(true);
    expect(await refusal(mac.projects.updateTask(id, a, { title: "renamed" }))).toEqual({
      code: "E_TASK_STATE",
      rule: "approved-frozen",
    });
    expect(await refusal(mac.projects.deleteTask(id, a))).toEqual({
      code: "E_TASK_STATE",
      rule: "approved-frozen",
    });
    expect(await refusal(admin.projects.approveTask(id, a))).toEqual({
      code: "E_TASK_STATE",
      rule: "already-approved",
    });
    expect(await refusal(admin.projects.approveTask(id, c))).toEqual({
      code: "E_TASK_STATE",
      rule: "not-done",
    });
    await mac.projects.updateTask(id, b, { status: "in progress" });
    await mac.projects.updateTask(id, b, { status: "done", completedDetails: "ok" });
    expect(await refusal(mac.projects.updateTask(id, b, { status: "in progress" }))).toEqual({
      code: "E_TASK_STATE",
      rule: "approved-frozen",
    });
    await mac.projects.updateTask(id, c, { status: "in progress" });
    await mac.projects.updateTask(id, c, { status: "done", completedDetails: "ok" });
    // Filters of list_tasks.
    expect(await mac.projects.listTasks({ projectId: id, state: "open" })).toEqual([]);
    expect((await mac.projects.listTasks({ projectId: id, state: "completed" })).length).toBe(3);
    // Deleting a task takes it out of its siblings' dependencies.
    const [d, e] = await mac.projects.addTasks(id, [
      { title: "D", description: "d" },
      { title: "E", description: "e", after: ["#1"] },
    ]);
    await mac.projects.deleteTask(id, d?.id as string);
    expect((await mac.projects.readTask(e?.id as string)).after).toEqual([]);
    expect(await refusal(mac.projects.readTask(d?.id as string))).toMatchObject({ code: "E_NOT_FOUND" });
    await mac.projects.delete(id);
    expect(await refusal(mac.projects.read(id))).toMatchObject({ code: "E_NOT_FOUND" });
  });

  it("gives each of 100 tasks to exactly one of 20 racing clients", async () => {
    const tasks = Array.from({ length: 100 }, (_, i) => ({ title: `T${i}`, description: "race" }));
    const project = await admin.projects.create({ initialPrompt: "Race", tasks });
    const racers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => agentClient(fleet, i % 2 === 0 ? MAC_TOKEN : VPS_TOKEN, `r${i}`)),
    );
    const won = await Promise.all(
      racers.map(async (client) => {
        const mine: string[] = [];
        for (;;) {
          const next = await client.projects.claimNext({ projectId: project.projectId });
          if (next.task === null) return mine;
          mine.push(next.task.id);
        }
      }),
    );
    const all = won.flat();
    expect(all.length).toBe(100);
    expect(new Set(all).size).toBe(100);
    const held = await admin.projects.listTasks({ projectId: project.projectId });
    expect(held.every((task) => task.status === "in progress")).toBe(true);
    // Each task's holder is the racer that got it.
    won.forEach((ids, i) => {
      const owner = `${i % 2 === 0 ? "mac" : "vps"}/r${i}`;
      for (const taskId of ids) expect(held.find((task) => task.id === taskId)?.assignee).toBe(owner);
    });
  });

  it("orders claims by priority, then project, then place", async () => {
    const project = await admin.projects.create({
      initialPrompt: "Priorities",
      tasks: [
        { title: "low", description: "l", priority: "low" },
        { title: "normal", description: "n" },
        { title: "critical", description: "c", priority: "critical" },
      ],
    });
    const order: string[] = [];
    for (let i = 0; i < 3; i++) {
      const next = await mac.projects.claimNext({ projectId: project.projectId });
      order.push(next.task?.title ?? "none");
    }
    expect(order).toEqual(["critical", "normal", "low"]);
  });
  it("keeps the claim order through priority changes, give-backs and undone dependencies", async () => {
    const p = await admin.projects.create({
      initialPrompt: "Order",
      tasks: [
        { title: "A", description: "a" },
        { title: "B", description: "b", after: ["#1"], priority: "critical" },
        { title: "C", description: "c", priority: "low" },
      ],
    });
    const [a, b, c] = p.tasks.map((task) => task.id) as [string, string, string];
    const peek = async () => (await mac.projects.nextTask(p.projectId)).task?.id;
    expect(await peek()).toBe(a);
    await admin.projects.updateTask(p.projectId, c, { priority: "high" });
    expect(await peek()).toBe(c);
    expect((await vps.projects.claimNext({ projectId: p.projectId })).task?.id).toBe(c);
    expect(await peek()).toBe(a);
    await vps.projects.updateTask(p.projectId, c, { status: "not started" });
    expect(await peek()).toBe(c);
    await admin.projects.updateTask(p.projectId, a, { status: "in progress" });
    await admin.projects.updateTask(p.projectId, a, { status: "done", completedDetails: "ok" });
    expect(await peek()).toBe(b);
    // A given back: B waits for it again.
    await admin.projects.updateTask(p.projectId, a, { status: "not started" });
    expect(await peek()).toBe(c);
    const order = [];
    for (let i = 0; i < 3; i++)
      order.push((await mac.projects.claimNext({ projectId: p.projectId })).task?.id);
    expect(order).toEqual([c, a, undefined]);
  });
});
