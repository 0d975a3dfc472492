import { waitFor } from "@flotilla/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFleet, type TestFleet } from "./fleet.js";

/** One sample of `/metrics`, e.g. `flotilla_tasks{state="queued"}`; undefined when it is not there. */
async function sample(fleet: TestFleet, series: string): Promise<number | undefined> {
  const text = await (
    await fetch(`${fleet.coordinator.url.replace("ws:", "http:")}/metrics`, {
      headers: { authorization: `Bearer ${fleet.token}` },
    })
  ).text();
  const line = text.split("\n").find((row) => row.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("/metrics counts tasks by state and the queue by priority, from Redis", () => {
  let fleet: TestFleet;

  beforeAll(async () => {
    fleet = await startFleet();
    // One slot and nothing held ahead: one task runs, the rest queue in Redis.
    await fleet.addAgent({ id: "solo", slots: 1, prefetch: 0 });
  }, 30_000);
  afterAll(async () => {
    await fleet?.dispose();
  });

  it("reports running, queued and waiting tasks, the queued ones by priority, and zero for the rest", async () => {
    const client = await fleet.client();
    const empty = await sample(fleet, 'flotilla_tasks{state="queued"}');
    expect(empty).toBe(0);
    expect(await sample(fleet, 'flotilla_queue_depth{priority="critical"}')).toBe(0);

    const running = await client.submit({ kind: "exec", argv: ["sleep", "30"] });
    await waitFor(async () => (await client.task(running.id)).state === "running", { timeoutMs: 10_000 });
    const queued = [
      await client.submit({ kind: "exec", argv: ["sleep", "30"], priority: "high" }),
      await client.submit({ kind: "exec", argv: ["sleep", "30"], priority: "high" }),
      await client.submit({ kind: "exec", argv: ["sleep", "30"], priority: "low" }),
    ];
    const waiting = await client.submit({ kind: "exec", argv: ["true"], needs: { gpu: true } });

    expect(await sample(fleet, 'flotilla_tasks{state="running"}')).toBe(1);
    expect(await sample(fleet, 'flotilla_tasks{state="queued"}')).toBe(3);
    expect(await sample(fleet, 'flotilla_tasks{state="waiting"}')).toBe(1);
    expect(await sample(fleet, 'flotilla_tasks{state="leased"}')).toBe(0);
    expect(await sample(fleet, 'flotilla_tasks{state="dead_lettered"}')).toBe(0);
    expect(await sample(fleet, 'flotilla_queue_depth{priority="high"}')).toBe(2);
    expect(await sample(fleet, 'flotilla_queue_depth{priority="low"}')).toBe(1);
    // The waiting task is not leased yet either: it counts at its priority (the default, normal).
    expect(await sample(fleet, 'flotilla_queue_depth{priority="normal"}')).toBe(1);
    expect(await sample(fleet, 'flotilla_queue_depth{priority="critical"}')).toBe(0);

    // Ended tasks leave the figures.
    for (const handle of [waiting, ...queued, running]) await client.cancel(handle.id);
    await waitFor(
      async () =>
        (await sample(fleet, 'flotilla_tasks{state="queued"}')) === 0 &&
        (await sample(fleet, 'flotilla_tasks{state="running"}')) === 0 &&
        (await sample(fleet, 'flotilla_tasks{state="waiting"}')) === 0,
      { timeoutMs: 15_000 },
    );
    expect(await sample(fleet, 'flotilla_queue_depth{priority="high"}')).toBe(0);
  }, 60_000);
});
