import { execFileSync } from "node:child_process";
import { waitFor } from "@flotilla/testing";
import { afterEach, describe, expect, it } from "vitest";
import { startFleet, type TestFleet } from "./fleet.js";

describe("accepts held back by the agent", () => {
  let fleet: TestFleet;
  afterEach(async () => {
    await fleet?.dispose();
  });

  it("dates the start from runningForMs, not from when the accept arrived", async () => {
    fleet = await startFleet();
    await fleet.addAgent({ id: "worker", slots: 1, acceptDelayMs: 500 });
    const client = await fleet.client();
    const handle = await client.submit({ kind: "exec", argv: ["sleep", "1.2"] });
    await waitFor(async () => (await client.task(handle.id)).state === "running", {
      what: "the run to be reported",
    });
    const result = await handle.result();
    expect(result.state).toBe("succeeded");
    const record = result.record as { startedAt: number; finishedAt: number; durationMs: number };
    // Reported 500 ms into the run, yet dated from its start: the record spans the whole run. Dated from
    // the accept it would be 500 ms short; the bounds leave room for the accept and the finish to take
    // different times to arrive on a busy machine.
    expect(record.finishedAt - record.startedAt).toBeGreaterThanOrEqual(1_000);
    expect(Math.abs(record.finishedAt - record.startedAt - record.durationMs)).toBeLessThan(250);
  });

  it("records a run shorter than the delay straight from leased to its end", async () => {
    fleet = await startFleet();
    // Not the default 20 ms: a busy machine can take longer than that to start and end `true`.
    await fleet.addAgent({ id: "worker", slots: 1, acceptDelayMs: 1_000 });
    const client = await fleet.client();
    const handle = await client.submit({ kind: "exec", argv: ["true"] });
    const result = await handle.result();
    const events = execFileSync(
      "redis-cli",
      ["-p", String(fleet.redis.port), "LRANGE", `task:{${handle.id}}:events`, "0", "-1"],
      { encoding: "utf8" },
    )
      .trim()
      .split("\n")
      .map((line) => (JSON.parse(line) as { state: string }).state);
    expect(events).toEqual(["queued", "leased", "succeeded"]);
    expect(result.state).toBe("succeeded");
    expect(result.record).toMatchObject({ startedAt: expect.any(Number), finishedAt: expect.any(Number) });
  });
});
