import { describe, expect, it } from "vitest";
import { isTerminalState, MAX_WAIT_MS, TASK_STATES, TaskSpecSchema, TERMINAL_STATES } from "./task.js";

describe("task states", () => {
  it("marks exactly the terminal states as final", () => {
    const final = TASK_STATES.filter((state) => isTerminalState(state));
    expect(final).toEqual([...TERMINAL_STATES]);
  });
});

describe("TaskSpecSchema", () => {
  it("bounds maxWaitMs at 7 days with a message that says so", () => {
    expect(TaskSpecSchema.safeParse({ kind: "exec", shell: "true", maxWaitMs: MAX_WAIT_MS }).success).toBe(
      true,
    );
    const refused = TaskSpecSchema.safeParse({ kind: "exec", shell: "true", maxWaitMs: MAX_WAIT_MS + 1 });
    expect(refused.success).toBe(false);
    expect(refused.error?.issues[0]?.message).toMatch(/at most 7 days/);
  });

  it("defaults priority to normal and keeps the rest as given", () => {
    const spec = TaskSpecSchema.parse({ kind: "exec", shell: "make", needs: { docker: true } });
    expect(spec).toEqual({ kind: "exec", shell: "make", needs: { docker: true }, priority: "normal" });
  });

  it("refuses NUL bytes anywhere a string reaches the process", () => {
    const cases = [
      { kind: "exec", shell: "echo \u0000" },
      { kind: "exec", argv: ["ls"], cwd: "/tmp\u0000" },
      { kind: "exec", argv: ["ls"], env: { A: "x\u0000" } },
      { kind: "exec", argv: ["ls"], env: { "A\u0000": "x" } },
    ];
    for (const spec of cases) expect(TaskSpecSchema.safeParse(spec).success).toBe(false);
  });

  it("checks each constraint by its operator", () => {
    const constraint = (value: unknown) =>
      TaskSpecSchema.safeParse({ kind: "call", handler: "h", constraints: [value] }).success;
    expect(constraint({ attr: "os", op: "eq", value: "linux" })).toBe(true);
    expect(constraint({ attr: "os", op: "eq" })).toBe(false);
    expect(constraint({ attr: "arch", op: "in", value: ["x64", 1] })).toBe(true);
    expect(constraint({ attr: "gpu", op: "exists" })).toBe(true);
    expect(constraint({ attr: "cores", op: "lt", value: true })).toBe(false);
    expect(constraint({ attr: "cores", op: "between", value: 1 })).toBe(false);
  });
});
