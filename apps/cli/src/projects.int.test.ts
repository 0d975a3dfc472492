import { describe, expect, it } from "vitest";
import { EXIT } from "./exit-codes.js";
import { fleet } from "./test-harness.js";

describe("flotilla projects", () => {
  const task = {
    id: "task-3",
    projectId: "proj-1",
    title: "Write the notes",
    description: "d",
    status: "done",
    approved: false,
    completedDetails: "written",
    priority: "normal",
    after: ["task-2"],
    needs: [],
    assignee: "mac/claude",
    createdAt: 1,
    updatedAt: 2,
  };
  const project = {
    projectId: "proj-1",
    initialPrompt: "Ship the release",
    projectPlan: "Ship the release",
    autoApprove: false,
    completed: false,
    createdAt: 1,
    updatedAt: 2,
    tasks: [task],
  };
  /** Answers project requests as a coordinator would, and refuses finalize with the coordinator's error. */
  function answer(
    message: { type: string; id?: string | undefined },
    socket: { send(text: string): void },
  ): boolean {
    const frame = (type: string, fields: Record<string, unknown>) =>
      JSON.stringify({
        v: 1,
        type,
        id: `c-${message.id}`,
        timestamp: new Date().toISOString(),
        from: "coordinator",
        replyTo: message.id,
        ...fields,
      });
    const results: Record<string, unknown> = {
      "projects.list": {
        projects: [
          {
            projectId: "proj-1",
            initialPrompt: "Ship the release",
            totalTasks: 1,
            completedTasks: 1,
            approvedTasks: 0,
            completed: false,
          },
        ],
      },
      "project.read": project,
      "project.task.approve": { ...task, approved: true },
    };
    if (message.type === "project.finalize") {
      socket.send(
        frame("error", {
          code: "E_PROJECT_STATE",
          message:
            "not all done tasks are approved: task-3 — list_tasks with state pending_approval shows the tasks to approve",
          details: { rule: "not-all-approved" },
        }),
      );
      return true;
    }
    if (!(message.type in results)) return false;
    socket.send(frame("reply", { result: results[message.type] }));
    return true;
  }

  it("lists, shows, approves and reports a refused finalize", async () => {
    const { fake, cli } = await fleet({ intercept: (message, socket) => answer(message, socket) });
    expect(await cli.run("projects", "ls", "--state", "pending_approval")).toBe(EXIT.OK);
    expect(cli.stdout.text).toMatch(/proj-1\s+1\s+1\s+0\s+no\s+Ship the release/);
    expect(fake.requests("projects.list")[0]).toMatchObject({ state: "pending_approval" });
    cli.stdout.text = "";
    expect(await cli.run("projects", "show", "proj-1")).toBe(EXIT.OK);
    expect(cli.stdout.text).toMatch(/task-3\s+done\s+no\s+normal\s+mac\/claude\s+task-2\s+Write the notes/);
    cli.stdout.text = "";
    expect(await cli.run("projects", "show", "proj-1", "--json")).toBe(EXIT.OK);
    expect(JSON.parse(cli.stdout.text)).toEqual(project);
    cli.stdout.text = "";
    expect(await cli.run("projects", "approve", "proj-1", "task-3")).toBe(EXIT.OK);
    expect(cli.stdout.text).toBe("task-3 approved\n");
    expect(fake.requests("project.task.approve")[0]).toMatchObject({ projectId: "proj-1", taskId: "task-3" });
    expect(await cli.run("projects", "finalize", "proj-1")).toBe(EXIT.FAILED);
    expect(cli.stderr.text).toContain("not all done tasks are approved");
    expect(await cli.run("projects", "approve", "proj-1")).toBe(EXIT.USAGE);
    expect(await cli.run("projects", "ls", "--state", "finished")).toBe(EXIT.USAGE);
    expect(await cli.run("projects", "rm")).toBe(EXIT.USAGE);
  });
});
