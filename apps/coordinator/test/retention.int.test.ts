import type { FlotillaClient } from "@flotilla/client";
import { isFlotillaError, type TaskSpecInput } from "@flotilla/protocol";
import { waitFor } from "@flotilla/testing";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { coordinatorKeys } from "../src/keys.js";
import type { CoordinatorOptions } from "../src/options.js";
import { startFleet, type TestFleet } from "./fleet.js";

const MINUTE = 60_000;
const keys = coordinatorKeys("").store;

/** A fleet whose coordinator's clock runs `offset` ms ahead of the real one (moved by the test). */
async function fleetWithClock(options: Partial<CoordinatorOptions>) {
  const clock = { offset: 0 };
  const fleet = await startFleet({
    clock: () => Date.now() + clock.offset,
    // The clock jumps by minutes: no node may be declared dead for it.
    deadAfterMs: 60 * MINUTE,
    ...options,
  });
  await fleet.addAgent({ id: "worker", handlers: { echo: async (payload) => payload ?? null } });
  const redis = new Redis(fleet.redis.url);
  return { fleet, clock, redis, client: await fleet.client() };
}

/** The error code a promise rejects with, or "resolved". */
async function failure(work: Promise<unknown>): Promise<string> {
  try {
    await work;
    return "resolved";
  } catch (error) {
    return isFlotillaError(error) ? error.code : String(error);
  }
}

async function gone(client: FlotillaClient, taskId: string): Promise<boolean> {
  return (await failure(client.task(taskId))) === "E_NOT_FOUND";
}

/** How many keys that name the task are left, and in how many indexes it still is. */
async function traces(redis: Redis, taskId: string, idempotencyKey?: string): Promise<number> {
  const names = [keys.task(taskId), keys.taskEvents(taskId), keys.taskOutput(taskId)];
  if (idempotencyKey !== undefined) names.push(keys.idempotency(idempotencyKey));
  let left = await redis.exists(...names);
  for (const index of [keys.allTasks(), keys.finished(), keys.expiring(), keys.deadLetters()])
    if ((await redis.zscore(index, taskId)) !== null) left += 1;
  return left;
}

describe("retention: Redis does not grow forever", () => {
  let fleet: TestFleet | undefined;
  let redis: Redis | undefined;
  afterEach(async () => {
    redis?.disconnect();
    await fleet?.dispose();
    fleet = undefined;
  });

  it("forgets a finished task, its events, output, idempotency key and index entries after the retention", async () => {
    const setup = await fleetWithClock({ retentionMs: 10 * MINUTE });
    ({ fleet, redis } = setup);
    const { client, clock } = setup;
    const keyed = await client.submit({
      kind: "call",
      handler: "echo",
      idempotencyKey: "once",
      ttlMs: 60 * MINUTE,
    });
    const printed = await client.submit({ kind: "exec", argv: ["echo", "hello"] });
    expect((await keyed.result()).state).toBe("succeeded");
    expect((await printed.result()).state).toBe("succeeded");
    expect(await setup.redis.zcard(keys.finished())).toBe(2);
    expect(await setup.redis.exists(keys.taskOutput(printed.id))).toBe(1);

    // One that ends later, and is not old enough yet when the first two are.
    clock.offset = 5 * MINUTE;
    const recent = await client.submit({ kind: "call", handler: "echo" });
    expect((await recent.result()).state).toBe("succeeded");

    clock.offset = 11 * MINUTE;
    await waitFor(async () => (await gone(client, keyed.id)) && (await gone(client, printed.id)), {
      timeoutMs: 10_000,
    });
    expect((await client.task(recent.id)).state).toBe("succeeded");
    expect(await traces(setup.redis, keyed.id, "once")).toBe(0);
    expect(await traces(setup.redis, printed.id)).toBe(0);
    // Read after it went: not found, cleanly, for a watch too; the key is free for a new task.
    expect(await failure(client.watch(printed.id).result())).toBe("E_NOT_FOUND");
    const again = await client.submit({ kind: "call", handler: "echo", idempotencyKey: "once" });
    expect(again.duplicate).toBe(false);
    expect(again.id).not.toBe(keyed.id);
  }, 30_000);

  it("keeps at most the configured number of finished tasks, forgetting the oldest first", async () => {
    const setup = await fleetWithClock({ retentionMaxFinished: 5 });
    ({ fleet, redis } = setup);
    const ids: string[] = [];
    for (let i = 0; i < 12; i += 1) {
      const handle = await setup.client.submit({ kind: "call", handler: "echo", payload: i });
      await handle.result();
      ids.push(handle.id);
    }
    await waitFor(async () => (await setup.redis.zcard(keys.finished())) === 5, { timeoutMs: 10_000 });
    for (const id of ids.slice(0, 7)) {
      expect(await gone(setup.client, id)).toBe(true);
      expect(await traces(setup.redis, id)).toBe(0);
    }
    for (const id of ids.slice(7)) expect((await setup.client.task(id)).state).toBe("succeeded");
    expect(await setup.redis.zrange(keys.finished(), "0", "-1")).toEqual(ids.slice(7));
    expect(await setup.redis.zcard(keys.allTasks())).toBe(5);
  }, 30_000);

  it("keeps dead-lettered tasks past the retention of finished ones, until their own", async () => {
    const setup = await fleetWithClock({ retentionMs: MINUTE, deadLetterRetentionMs: 10 * MINUTE });
    ({ fleet, redis } = setup);
    const dead = await setup.client.submit({
      kind: "exec",
      argv: ["false"],
      retry: { maxAttempts: 1, retryOn: [1] },
    });
    expect((await dead.result()).state).toBe("dead_lettered");
    const done = await setup.client.submit({ kind: "call", handler: "echo" });
    expect((await done.result()).state).toBe("succeeded");
    expect(await setup.redis.zrange(keys.finished(), "0", "-1")).toEqual([done.id]);

    // Past the retention of finished tasks: the finished one goes, the dead-lettered one stays.
    setup.clock.offset = 5 * MINUTE;
    await waitFor(() => gone(setup.client, done.id), { timeoutMs: 10_000 });
    expect((await setup.client.task(dead.id)).state).toBe("dead_lettered");
    expect((await setup.client.dlq.list()).map((entry) => entry.taskId)).toEqual([dead.id]);

    setup.clock.offset = 11 * MINUTE;
    await waitFor(() => gone(setup.client, dead.id), { timeoutMs: 10_000 });
    expect(await traces(setup.redis, dead.id)).toBe(0);
    expect(await setup.client.dlq.list()).toEqual([]);
  }, 30_000);

  it("caps a task's stored output in bytes, ending it with a marker the client shows", async () => {
    const setup = await fleetWithClock({ maxOutputBytes: 100 });
    ({ fleet, redis } = setup);
    const loud = await setup.client.submit({
      kind: "exec",
      argv: ["sh", "-c", "head -c 300 /dev/zero | tr '\\0' x; echo; echo more"],
    });
    expect((await loud.result()).state).toBe("succeeded");
    let text = "";
    for await (const chunk of setup.client.watch(loud.id).output()) text += chunk.data;
    expect(text).toBe(`${"x".repeat(100)}\n[flotilla: output truncated at 100 bytes]\n`);
    expect(await setup.redis.hget(keys.task(loud.id), "outputTruncated")).toBe("100");
  }, 30_000);

  it("refuses a submit with E_QUEUE_FULL once the waiting list is full", async () => {
    const setup = await fleetWithClock({ maxWaiting: 2 });
    ({ fleet, redis } = setup);
    const nowhere: TaskSpecInput = { kind: "exec", argv: ["true"], needs: { gpu: true } };
    await setup.client.submit(nowhere);
    await setup.client.submit(nowhere);
    expect(await failure(setup.client.submit(nowhere))).toBe("E_QUEUE_FULL");
    // A refused submit holds no idempotency key: the same submit is refused again, not a duplicate.
    expect(await failure(setup.client.submit({ ...nowhere, idempotencyKey: "later" }))).toBe("E_QUEUE_FULL");
    expect(await setup.redis.exists(keys.idempotency("later"))).toBe(0);
    // Work a node can take is still accepted.
    expect((await (await setup.client.submit({ kind: "call", handler: "echo" })).result()).state).toBe(
      "succeeded",
    );
    expect(await setup.redis.zcard(keys.waiting())).toBe(2);
  }, 30_000);
});
