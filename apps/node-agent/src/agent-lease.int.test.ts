import { describe, expect, it } from "vitest";
import { agent, coordinator, useAgentSession } from "../test/agent-session.js";

useAgentSession();

describe("the lease a run knows of", () => {
  it("gives an exec run FLOTILLA_TASK_ID, FLOTILLA_ATTEMPT and FLOTILLA_EPOCH, over the task's env", async () => {
    await agent().start();
    coordinator.send("task.assign", {
      taskId: "lease-env",
      epoch: 7,
      attempt: 3,
      spec: {
        kind: "exec",
        shell: 'echo "$FLOTILLA_TASK_ID $FLOTILLA_ATTEMPT $FLOTILLA_EPOCH"',
        env: { FLOTILLA_EPOCH: "999" },
      },
    });
    const finish = await coordinator.waitFor("task.finish", (m) => m.taskId === "lease-env");
    expect(finish.outcome).toBe("succeeded");
    const output = coordinator.all("task.output").filter((m) => m.taskId === "lease-env");
    expect(output.map((m) => m.data).join("")).toBe("lease-env 3 7\n");
  });

  it("gives a call handler the lease's epoch in its context", async () => {
    await agent({
      handlers: { lease: async (_payload, ctx) => [ctx.taskId, ctx.attempt, ctx.epoch] },
    }).start();
    coordinator.send("task.assign", {
      taskId: "lease-call",
      epoch: 5,
      attempt: 2,
      spec: { kind: "call", handler: "lease", payload: null },
    });
    const finish = await coordinator.waitFor("task.finish", (m) => m.taskId === "lease-call");
    expect(finish.result).toEqual(["lease-call", 2, 5]);
  });
});
