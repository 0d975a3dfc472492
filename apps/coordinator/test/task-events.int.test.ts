import { isFlotillaError } from "@flotilla/protocol";
import { describe, expect, it } from "vitest";
import { fleetPerSuite } from "./fleet.js";

describe("task.events: a task's stored state changes, read after the fact", () => {
  const suite = fleetPerSuite();

  it("lists every change of a finished task with its node and time to a client that connected afterwards", async () => {
    await suite.fleet.addAgent({ id: "history-node" });
    const submitter = await suite.fleet.client();
    const handle = await submitter.submit({ kind: "exec", argv: ["sh", "-c", "echo done"] });
    await handle.result();

    const later = await suite.fleet.client();
    const events = await later.taskEvents(handle.id);
    const states = events.map((event) => event.state);
    expect(states[0]).toBe("queued");
    expect(states).toContain("running");
    expect(states.at(-1)).toBe("succeeded");
    for (const event of events) {
      expect(event.taskId).toBe(handle.id);
      expect(event.at).toBeGreaterThan(0);
    }
    // Each change after the first names the state it left; from the lease on, the node it happened on.
    for (const event of events.slice(1)) expect(event.previous).toBeDefined();
    for (const event of events.filter((e) => e.state !== "queued")) expect(event.node).toBe("history-node");
    const times = events.map((event) => event.at);
    expect([...times].sort((a, b) => a - b)).toEqual(times);
  });

  it("answers E_NOT_FOUND for a task the coordinator does not know", async () => {
    const client = await suite.fleet.client();
    const error = await client.taskEvents("t-unknown").catch((caught: unknown) => caught);
    expect(isFlotillaError(error) && error.code).toBe("E_NOT_FOUND");
  });
});
