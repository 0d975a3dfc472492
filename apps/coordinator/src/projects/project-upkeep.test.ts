import { describe, expect, it } from "vitest";
import { actorOf } from "./project-ops.js";
import { normalizeTask } from "./project-store.js";
import { runSpec, tail } from "./project-upkeep.js";

const task = normalizeTask({
  id: "task-7",
  projectId: "proj-2",
  title: "build",
  description: "b",
  status: "not started",
  approved: false,
  completedDetails: "",
  priority: "high",
  after: {},
  needs: {},
  run: { argv: ["make", "-j4"], needs: ["linux", "docker"], cwd: "/src", timeoutMs: 60_000 },
  createdAt: 1,
  updatedAt: 1,
});

describe("project runs", () => {
  it("reads cjson's empty objects back as empty lists", () => {
    expect(task.after).toEqual([]);
    expect(task.needs).toEqual([]);
  });

  it("makes an exec spec with the task's priority, needs as capabilities and a key per attempt", () => {
    expect(runSpec(task)).toMatchObject({
      kind: "exec",
      argv: ["make", "-j4"],
      cwd: "/src",
      timeoutMs: 60_000,
      priority: "high",
      needs: { linux: true, docker: true },
      idempotencyKey: "project-run:task-7:1",
      labels: { project: "proj-2", projectTask: "task-7" },
    });
    expect(runSpec({ ...task, runs: 2 }).idempotencyKey).toBe("project-run:task-7:3");
  });

  it("keeps the last lines of the output", () => {
    expect(tail("a\nb\nc\n", 2)).toBe("b\nc");
    expect(tail("", 2)).toBe("");
  });
});

describe("the acting agent", () => {
  it("is the token's name, qualified by the connection's agent name", () => {
    const principal = { name: "mac", scope: "submit" as const };
    expect(actorOf(principal, undefined)).toBe("mac");
    expect(actorOf(principal, "claude")).toBe("mac/claude");
  });
});
