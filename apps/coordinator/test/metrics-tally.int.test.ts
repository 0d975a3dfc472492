import { isDeepStrictEqual } from "node:util";
import { waitFor } from "@flotilla/testing";
import type { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { coordinatorKeys } from "../src/keys.js";
import { TaskReads } from "../src/store.js";
import { fleetPerSuite, testCoordinator } from "./fleet.js";

/** Every `flotilla_tasks` and `flotilla_queue_depth` sample of one scrape of `/metrics`. */
async function taskFigures(url: string, token: string): Promise<Record<string, number>> {
  const text = await (
    await fetch(`${url.replace("ws:", "http:")}/metrics`, { headers: { authorization: `Bearer ${token}` } })
  ).text();
  const figures: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const match = /^(flotilla_tasks|flotilla_queue_depth)\{(\w+)="(\w+)"\} (\d+)$/.exec(line);
    if (match) figures[`${match[1]}:${match[3]}`] = Number(match[4]);
  }
  return figures;
}

/** The same figures, from a census of Redis (what every scrape used to read). */
async function censusFigures(redis: Redis, nodes: readonly string[]): Promise<Record<string, number>> {
  const census = await new TaskReads(redis, coordinatorKeys("").store).census(nodes);
  const figures: Record<string, number> = {};
  for (const state of ["waiting", "queued", "leased", "running", "dead_lettered"])
    figures[`flotilla_tasks:${state}`] = census.states[state] ?? 0;
  for (const priority of ["critical", "high", "normal", "low"])
    figures[`flotilla_queue_depth:${priority}`] = census.priorities[priority] ?? 0;
  return figures;
}

/** How many times Redis ran each command (`INFO commandstats`), by lower-case name. */
async function commandCalls(redis: Redis): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  for (const line of (await redis.info("commandstats")).split("\n")) {
    const match = /^cmdstat_([\w|]+):calls=(\d+)/.exec(line);
    if (match) calls.set(match[1] as string, Number(match[2]));
  }
  return calls;
}

describe("/metrics task figures are kept as the work happens", () => {
  const suite = fleetPerSuite();

  it("a scrape sends Redis none of a census's reads, with 2,000 tasks waiting as with none", async () => {
    const { fleet, redis } = suite;
    const scrapeReads = async (): Promise<number> => {
      const before = await commandCalls(redis);
      for (let i = 0; i < 20; i += 1) await taskFigures(fleet.coordinator.url, fleet.token);
      const after = await commandCalls(redis);
      // A census reads every queue and running set, then one HMGET per unfinished task.
      return ["hmget", "smembers"].reduce(
        (sum, name) => sum + (after.get(name) ?? 0) - (before.get(name) ?? 0),
        0,
      );
    };
    const idle = await scrapeReads();
    const client = await fleet.client();
    for (let batch = 0; batch < 10; batch += 1) {
      await Promise.all(
        Array.from({ length: 200 }, () =>
          client.submit({ kind: "exec", argv: ["true"], needs: { gpu: true }, priority: "low" }),
        ),
      );
    }
    const figures = await taskFigures(fleet.coordinator.url, fleet.token);
    expect(figures["flotilla_tasks:waiting"]).toBe(2000);
    expect(figures["flotilla_queue_depth:low"]).toBe(2000);
    const loaded = await scrapeReads();
    // 20 censuses would have sent 40,000 HMGETs (and 20 SMEMBERS per node even when idle). The few seen
    // come from the coordinator's own upkeep meanwhile (a project sweep's SMEMBERS), not the scrapes.
    expect(idle).toBeLessThanOrEqual(5);
    expect(loaded).toBeLessThanOrEqual(5);
  }, 60_000);

  it("agree with a census after runs, retries, dead letters and cancels, and after a takeover", async () => {
    const { fleet, redis } = suite;
    const client = await fleet.client();
    await fleet.addAgent({ id: "solo", slots: 1, prefetch: 0 });
    const dead = await client.submit({
      kind: "exec",
      shell: "exit 7",
      retry: { maxAttempts: 2, backoffMs: 50, retryOn: [7] },
      priority: "high",
    });
    expect((await dead.result()).state).toBe("dead_lettered");
    const running = await client.submit({ kind: "exec", argv: ["sleep", "30"] });
    await waitFor(async () => (await client.task(running.id)).state === "running", { timeoutMs: 10_000 });
    const queued = await Promise.all([
      client.submit({ kind: "exec", argv: ["sleep", "30"], priority: "high" }),
      client.submit({ kind: "exec", argv: ["sleep", "30"], priority: "critical" }),
      client.submit({ kind: "exec", argv: ["sleep", "30"] }),
    ]);
    await client.cancel((queued[2] as { id: string }).id);
    const nodes = ["solo"];
    const census = await censusFigures(redis, nodes);
    expect(census["flotilla_tasks:dead_lettered"]).toBe(1);
    expect(census["flotilla_tasks:running"]).toBe(1);
    expect(await taskFigures(fleet.coordinator.url, fleet.token)).toEqual(census);

    // Purging the dead letter takes it out of the figures.
    expect(await client.dlq.purge(dead.id)).toMatchObject({ purged: 1 });
    expect((await taskFigures(fleet.coordinator.url, fleet.token))["flotilla_tasks:dead_lettered"]).toBe(0);

    // Another coordinator on the same Redis counts once when it becomes active, then keeps counting.
    await fleet.coordinator.stop();
    const next = testCoordinator(fleet.redis.url);
    await next.start();
    try {
      // Its figures start from its census (without one they would stay at nothing plus what moved since).
      const agree = async (): Promise<boolean> =>
        isDeepStrictEqual(await taskFigures(next.url, fleet.token), await censusFigures(redis, nodes));
      await waitFor(agree, { timeoutMs: 20_000 });
      // The agent is gone for this coordinator: its node is declared dead and its tasks requeued.
      await waitFor(async () => (await taskFigures(next.url, fleet.token))["flotilla_tasks:running"] === 0, {
        timeoutMs: 20_000,
      });
      await waitFor(agree, { timeoutMs: 20_000 });
      expect((await taskFigures(next.url, fleet.token))["flotilla_tasks:waiting"]).toBeGreaterThan(2000);
    } finally {
      await next.stop();
    }
  }, 90_000);
});
