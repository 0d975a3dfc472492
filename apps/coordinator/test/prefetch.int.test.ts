import { execFileSync } from "node:child_process";
import type { AgentOptions } from "@flotilla/node-agent";
import { waitFor } from "@flotilla/testing";
import { afterEach, describe, expect, it } from "vitest";
import { coordinatorKeys } from "../src/keys.js";
import type { CoordinatorOptions } from "../src/options.js";
import { startFleet, type TestFleet } from "./fleet.js";

/** The states a task went through, from its event history in Redis. */
function history(fleet: TestFleet, taskId: string): string[] {
  const key = coordinatorKeys("").store.taskEvents(taskId);
  return execFileSync("redis-cli", ["-p", String(fleet.redis.port), "LRANGE", key, "0", "-1"], {
    encoding: "utf8",
  })
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { state: string }).state);
}

/** A handler that runs until the test opens its gate. */
function gate(): { handler: () => Promise<string>; open: () => void; entered: () => boolean } {
  let release: () => void = () => {};
  let inside = false;
  const opened = new Promise<void>((resolve) => {
    release = resolve;
  });
  return {
    handler: async () => {
      inside = true;
      await opened;
      return "through";
    },
    open: () => release(),
    entered: () => inside,
  };
}

/**
 * Starts a fleet with one agent, warms it up on short tasks (its smoothed run time is then far below
 * holdAheadMs) and makes it busy with a task that runs until the test opens the gate.
 *
 * holdAheadMs is a second, not the default 10 ms: the warm-up calls take well under a millisecond on an
 * idle machine, but several on a busy one, and at 5 ms the node could hold only one task ahead.
 */
async function busyNode(agent: Partial<AgentOptions> & { id: string }) {
  const fleet = await startFleet({ holdAheadMs: 1_000 });
  const wait = gate();
  // The most handlers that were ever inside at once: what the node really ran side by side.
  const concurrency = { now: 0, max: 0 };
  const counted =
    <T>(handler: (payload: unknown) => Promise<T>) =>
    async (payload: unknown): Promise<T> => {
      concurrency.now += 1;
      concurrency.max = Math.max(concurrency.max, concurrency.now);
      try {
        return await handler(payload);
      } finally {
        concurrency.now -= 1;
      }
    };
  await fleet.addAgent({
    ...agent,
    handlers: { quick: counted(async (payload) => payload), wait: counted(wait.handler) },
  });
  const client = await fleet.client();
  for (let i = 0; i < 5; i += 1) await (await client.submit({ kind: "call", handler: "quick" })).result();
  const blocker = await client.submit({ kind: "call", handler: "wait" });
  await waitFor(() => wait.entered(), { what: "the gated task to start" });
  return { fleet, client, wait, blocker, concurrency };
}

describe("holding assignments ahead (prefetch)", () => {
  let fleet: TestFleet;
  afterEach(async () => {
    await fleet?.dispose();
  });

  it("leases ahead to an agent while its tasks are short, yet never runs more than its slots", async () => {
    const busy = await busyNode({ id: "worker", slots: 1, prefetch: 2, maxHoldMs: 10_000 });
    fleet = busy.fleet;
    const { client, wait, blocker, concurrency } = busy;
    const behind = await Promise.all(
      [1, 2, 3].map((payload) => client.submit({ kind: "call", handler: "quick", payload })),
    );
    const states = async () =>
      Promise.all(behind.map(async (handle) => (await client.task(handle.id)).state));
    // Slots 1 + prefetch 2: two are held by the agent (leased), the third waits in the queue.
    await waitFor(async () => (await states()).join() === "leased,leased,queued", {
      what: "two tasks held ahead and one queued",
    });
    // The agent reports the start once the run has gone acceptDelayMs (20 ms).
    await waitFor(async () => (await client.task(blocker.id)).state === "running", {
      what: "the gated task to be running",
    });
    const [node] = await client.nodes();
    expect(node).toMatchObject({ id: "worker", slotsUsed: 1, slotsTotal: 1 });

    wait.open();
    const results = await Promise.all([blocker, ...behind].map((handle) => handle.result()));
    expect(results.map((result) => result.state)).toEqual([
      "succeeded",
      "succeeded",
      "succeeded",
      "succeeded",
    ]);
    expect(results.slice(1).map((result) => result.result)).toEqual([1, 2, 3]);
    expect(concurrency.max).toBe(1);
    const spans = results.map((result) => {
      const record = result.record as { startedAt?: number; finishedAt?: number; durationMs?: number };
      return {
        start: Number(record.startedAt),
        end: Number(record.finishedAt),
        ms: Number(record.durationMs),
      };
    });
    // One slot: no two runs overlap (a held task starts once the one before it finished). A run that sent
    // no accept is dated back from its finish by the agent's durationMs, and two finishes can be read in
    // the same millisecond: its recorded start may precede the previous end by at most its own duration.
    for (let i = 1; i < spans.length; i += 1) {
      const span = spans[i] ?? { start: Number.NaN, ms: 0 };
      expect(span.start + span.ms).toBeGreaterThanOrEqual(spans[i - 1]?.end ?? Number.POSITIVE_INFINITY);
    }
  });

  /** A one-slot agent that holds up to 8 ahead, and a burst of 200 calls of 2 ms each for it. */
  async function burst(coordinator: Partial<CoordinatorOptions> = {}) {
    fleet = await startFleet({ holdAheadMs: 1_000, ...coordinator });
    await fleet.addAgent({
      id: "single",
      slots: 1,
      prefetch: 8,
      acceptDelayMs: 1,
      handlers: { short: () => new Promise((resolve) => setTimeout(() => resolve("ok"), 2)) },
    });
    const client = await fleet.client();
    const handles = await Promise.all(
      Array.from({ length: 200 }, () => client.submit({ kind: "call", handler: "short" })),
    );
    return Promise.all(handles.map((handle) => handle.result()));
  }

  it("runs a burst through a one-slot node with no heartbeat to wake its queue", async () => {
    // A lease that ran while the burst's submits were still being written used to set the node's queue
    // count to zero; the tasks then waited for the next heartbeat's look at the queue (9 per beat).
    const results = await burst({ heartbeatIntervalMs: 60_000, deadAfterMs: 120_000 });
    expect(results.filter((result) => result.state !== "succeeded")).toEqual([]);
  });

  it("records the runs of a one-slot node one after another, however late each message came", async () => {
    const results = await burst();
    expect(results.filter((result) => result.state !== "succeeded")).toEqual([]);
    const spans = results
      .map((result) => {
        const record = result.record as { startedAt?: number; finishedAt?: number };
        return { start: Number(record.startedAt), end: Number(record.finishedAt) };
      })
      .sort((a, b) => a.start - b.start || a.end - b.end);
    // The times come from the agent's clock, so one run's start is never before the previous run's end
    // (they were dated by when each message arrived, and a finish held up behind a busy turn was recorded
    // after the next start); 1 ms is for rounding: message stamps are whole milliseconds, and a run that
    // ended before its accept went out is dated back from its finish by its measured duration.
    const overlaps = spans
      .slice(1)
      .map((span, i) => (spans[i]?.end ?? 0) - span.start)
      .filter((overlap) => overlap > 1);
    expect(overlaps).toEqual([]);
  });

  it("gets a held task back after maxHoldMs and runs it on an idle node instead", async () => {
    const busy = await busyNode({ id: "busy", slots: 1, prefetch: 2, maxHoldMs: 100 });
    fleet = busy.fleet;
    const { client, wait, blocker } = busy;
    const behind = await Promise.all(
      [1, 2].map((payload) => client.submit({ kind: "call", handler: "quick", payload })),
    );
    // Held for only maxHoldMs: its history says it was leased ahead, where its state may have moved on.
    await waitFor(() => history(busy.fleet, behind[0]?.id as string).includes("leased"), {
      what: "a task held ahead",
    });
    await fleet.addAgent({
      id: "idle",
      slots: 1,
      prefetch: 0,
      handlers: { quick: async (payload) => payload },
    });
    const results = await Promise.all(behind.map((handle) => handle.result()));
    // Both ran while the blocker still held busy's only slot: handed back, then placed on the idle node.
    expect(wait.entered()).toBe(true);
    expect(results.map((result) => [result.state, (result.record as { node?: string }).node])).toEqual([
      ["succeeded", "idle"],
      ["succeeded", "idle"],
    ]);
    wait.open();
    expect((await blocker.result()).state).toBe("succeeded");
  });

  it("stops leasing ahead once the node's tasks run long", async () => {
    fleet = await startFleet({ holdAheadMs: 10 });
    const wait = gate();
    await fleet.addAgent({
      id: "worker",
      slots: 1,
      prefetch: 2,
      handlers: {
        quick: async (payload) => payload,
        slow: async () => new Promise((resolve) => setTimeout(() => resolve("slow"), 400)),
        wait: wait.handler,
      },
    });
    const client = await fleet.client();
    // One 400 ms run lifts the smoothed run time (0.8 * ~0 + 0.2 * 400 = ~80 ms) above 20 ms.
    await (await client.submit({ kind: "call", handler: "slow" })).result();
    const blocker = await client.submit({ kind: "call", handler: "wait" });
    await waitFor(() => wait.entered(), { what: "the gated task to start" });
    const next = await client.submit({ kind: "call", handler: "quick" });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await client.task(next.id)).state).toBe("queued");
    wait.open();
    expect((await blocker.result()).state).toBe("succeeded");
    expect((await next.result()).state).toBe("succeeded");
  });

  it("never leases ahead to an agent that holds nothing beyond its slots", async () => {
    const busy = await busyNode({ id: "worker", slots: 1, prefetch: 0 });
    fleet = busy.fleet;
    const { client, wait, blocker } = busy;
    const next = await client.submit({ kind: "call", handler: "quick" });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await client.task(next.id)).state).toBe("queued");
    wait.open();
    expect((await next.result()).state).toBe("succeeded");
    expect((await blocker.result()).state).toBe("succeeded");
  });
});
