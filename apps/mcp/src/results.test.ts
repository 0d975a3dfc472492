import { FlotillaError } from "@flotilla/protocol";
import { describe, expect, it } from "vitest";
import { answer, jsonResult, toolError } from "./results.js";

function body(result: { content: { text: string }[] }): Record<string, unknown> {
  return JSON.parse(result.content[0]?.text ?? "null") as Record<string, unknown>;
}

describe("tool results", () => {
  it("answers JSON text in the first content item", () => {
    const result = jsonResult({ taskId: "t-1", exitCode: 0 });
    expect(result.isError).toBeUndefined();
    expect(body(result)).toEqual({ taskId: "t-1", exitCode: 0 });
  });

  it("turns a Flotilla error into a tool error with its code, retryability and a hint", () => {
    const result = toolError(new FlotillaError("E_NOT_FOUND", "no task t-9", { details: { taskId: "t-9" } }));
    expect(result.isError).toBe(true);
    expect(body(result)).toMatchObject({
      code: "E_NOT_FOUND",
      message: "no task t-9",
      retryable: false,
      details: { taskId: "t-9" },
    });
    expect(body(result).hint).toMatch(/list_/);
  });

  it("prefers the hint a refused rule carries", () => {
    const refused = new FlotillaError("E_CONFLICT", "task-1 is approved", {
      details: { rule: "approved-frozen", hint: "add a new task for more work" },
    });
    expect(body(toolError(refused))).toMatchObject({ hint: "add a new task for more work" });
  });

  it("gives retryable errors without a hint of their own a retry hint, and anything else E_INTERNAL", async () => {
    expect(body(toolError(new FlotillaError("E_SPAWN", "could not start"))).hint).toMatch(/retry/);
    const thrown = await answer(() => Promise.reject(new Error("boom")));
    expect(thrown.isError).toBe(true);
    expect(body(thrown)).toMatchObject({ code: "E_INTERNAL", message: "boom" });
  });
});
