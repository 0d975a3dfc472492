import { isFlotillaError } from "@flotilla/protocol";
import { waitFor } from "@flotilla/testing";
import { describe, expect, it } from "vitest";
import { fleetPerSuite } from "./fleet.js";

describe("task.submitMany: many tasks in one round trip and one script call", () => {
  const suite = fleetPerSuite();

  it("accepts the good specs, reports each bad one by its index, and runs what it accepted", async () => {
    await suite.fleet.addAgent({ id: "bulk-node", slots: 4 });
    const client = await suite.fleet.client();
    const specs = [
      { kind: "exec" as const, argv: ["sh", "-c", "echo one"] },
      { kind: "exec" as const, argv: [] as string[] },
      { kind: "exec" as const, argv: ["sh", "-c", "echo three"] },
      { kind: "nonsense" } as never,
    ];
    const results = await client.submitMany(specs);
    expect(results.map((r) => [r.index, r.ok])).toEqual([
      [0, true],
      [1, false],
      [2, true],
      [3, false],
    ]);
    expect(results[1]).toMatchObject({ code: "E_SCHEMA", message: expect.stringMatching(/argv/) });
    for (const result of results) {
      if (!result.ok) continue;
      await waitFor(async () => (await client.task(result.taskId)).state === "succeeded", {
        what: `task ${result.taskId} to succeed`,
      });
    }
  });

  it("submits none with allOrNothing when one spec is bad, checked in the client and in the coordinator", async () => {
    const client = await suite.fleet.client();
    const before = await suite.redis.zcard("tasks:all");
    const bad = [{ kind: "exec" as const, argv: ["true"] }, { kind: "exec" as const }] as never[];
    const local = await client.submitMany(bad, { allOrNothing: true }).catch((error: unknown) => error);
    expect(isFlotillaError(local) && local.code).toBe("E_SCHEMA");
    expect((local as { details: { invalid: { index: number }[] } }).details.invalid).toMatchObject([
      { index: 1 },
    ]);
    // The coordinator checks on its own, whatever a client sent.
    const remote = await client
      .request("task.submitMany", {
        specs: [{ kind: "exec", argv: ["true"] }, { kind: 7 }],
        allOrNothing: true,
      })
      .catch((error: unknown) => error);
    expect(isFlotillaError(remote) && remote.code).toBe("E_SCHEMA");
    expect(await suite.redis.zcard("tasks:all")).toBe(before);
  });

  it("writes a whole batch with one script call: one EVALSHA for a thousand tasks", async () => {
    const client = await suite.fleet.client();
    const specs = Array.from({ length: 1000 }, (_, i) => ({
      kind: "call" as const,
      handler: "echo",
      payload: { i },
      // No node has it: the tasks wait, and the test counts only the submit's scripts.
      needs: { tier: "nowhere" },
      maxWaitMs: 60_000,
    }));
    const before = await evalshaCalls(suite.redis.info("commandstats"));
    const results = await client.submitMany(specs);
    const after = await evalshaCalls(suite.redis.info("commandstats"));
    expect(results.filter((r) => r.ok)).toHaveLength(1000);
    expect(new Set(results.map((r) => r.ok && r.taskId)).size).toBe(1000);
    // The batch, and perhaps a sweep or a renewal of this coordinator meanwhile: far fewer than 1000/64.
    expect(after - before).toBeLessThanOrEqual(4);
  });
});

async function evalshaCalls(info: Promise<string>): Promise<number> {
  return Number(/cmdstat_evalsha:calls=(\d+)/.exec(await info)?.[1] ?? 0);
}
