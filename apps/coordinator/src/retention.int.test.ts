import { type RedisServer, startRedis } from "@flotilla/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { coordinatorKeys } from "./keys.js";
import { FORGET_BATCH } from "./retention.js";
import { TaskStore } from "./store.js";

describe("forgetting tasks and capping output (store scripts against a real redis-server)", () => {
  let server: RedisServer;
  let redis: Redis;
  let store: TaskStore;
  const keys = coordinatorKeys("r").store;

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
    store = new TaskStore(redis, keys, { idempotencyTtlSeconds: 60, outputCap: 1000, maxOutputBytes: 10 });
  });
  afterAll(async () => {
    redis.disconnect();
    await server.dispose();
  });

  /** Submits a task to node `n` and runs it to `running` (epoch 1). */
  async function running(id: string, idempotencyKey?: string): Promise<void> {
    const spec = JSON.stringify({
      kind: "exec",
      argv: ["true"],
      ...(idempotencyKey ? { idempotencyKey } : {}),
    });
    await store.submit({
      id,
      fields: { id, state: "queued", spec, node: "n", createdAt: 1, updatedAt: 1 },
      idempotencyKey,
      target: { node: "n" },
      score: 1,
      event: JSON.stringify({ taskId: id, state: "queued" }),
      now: 1,
    });
    await store.lease("n", 1, 2);
    await store.transition(id, { expectedEpoch: 1, from: ["leased"], to: "running", now: 3 });
  }

  async function finish(id: string, now: number): Promise<void> {
    const result = await store.transition(id, {
      from: ["running"],
      to: "succeeded",
      source: { kind: "set", key: keys.running("n") },
      now,
    });
    expect(result.ok).toBe(true);
  }

  it("forgets at most a batch per call, oldest first, and says when more are due", async () => {
    const ids = Array.from({ length: FORGET_BATCH + 44 }, (_, i) => `b${i}`);
    for (const [i, id] of ids.entries()) {
      await running(id);
      await finish(id, 100 + i);
    }
    expect(await redis.zcard(keys.finished())).toBe(ids.length);
    const first = await store.forget(keys.finished(), ["succeeded"], {
      cutoff: undefined,
      keep: 0,
      batch: FORGET_BATCH,
    });
    expect(first).toEqual({ forgotten: FORGET_BATCH, more: true });
    expect(await redis.zrange(keys.finished(), "0", "0")).toEqual([ids[FORGET_BATCH]]);
    expect(await redis.exists(keys.task("b0"), keys.taskEvents("b0"))).toBe(0);
    const rest = await store.forget(keys.finished(), ["succeeded"], {
      cutoff: undefined,
      keep: 0,
      batch: FORGET_BATCH,
    });
    expect(rest).toEqual({ forgotten: 44, more: false });
    expect(await redis.zcard(keys.allTasks())).toBe(0);
  });

  it("leaves an idempotency key that names another task, and forgets nothing not yet due", async () => {
    await running("k1", "shared");
    await finish("k1", 5);
    // The key now names a newer task (as after it expired and was claimed again).
    await redis.set(keys.idempotency("shared"), "k2");
    await running("k3");
    await finish("k3", 50);
    expect(
      await store.forget(keys.finished(), ["succeeded"], { cutoff: 10, keep: undefined, batch: 10 }),
    ).toEqual({
      forgotten: 1,
      more: false,
    });
    expect(await redis.get(keys.idempotency("shared"))).toBe("k2");
    expect(await redis.hget(keys.task("k3"), "state")).toBe("succeeded");
  });

  it("purges a dead letter with its idempotency key, and only a dead letter", async () => {
    // A key with characters JSON escapes: read by decoding the spec.
    await running("d1", 'dead "key"');
    await store.transition("d1", {
      from: ["running"],
      to: "dead_lettered",
      source: { kind: "set", key: keys.running("n") },
      target: { key: keys.deadLetters(), score: 7 },
      now: 7,
    });
    expect(await redis.zscore(keys.finished(), "d1")).toBeNull();
    expect(await store.purgeDeadLetter("k3")).toBe(false);
    expect(await store.purgeDeadLetter("d1")).toBe(true);
    expect(await redis.exists(keys.task("d1"), keys.idempotency('dead "key"'))).toBe(0);
    expect(await redis.zcard(keys.deadLetters())).toBe(0);
  });

  it("cuts output at the byte cap on a character boundary, marks it, and drops what follows", async () => {
    await running("o1");
    expect(await store.appendOutput("o1", 1, [{ seq: 0, stream: "stdout", data: "abcdef" }])).toEqual({
      whole: 1,
    });
    // 6 bytes stored, 4 left: "é" is two bytes and would straddle the cap after "xyz".
    const cut = await store.appendOutput("o1", 1, [
      { seq: 1, stream: "stdout", data: "xyzé!" },
      { seq: 2, stream: "stdout", data: "never" },
    ]);
    expect(cut).toEqual({ whole: 0, cut: "xyz\n[flotilla: output truncated at 10 bytes]\n" });
    expect(await store.appendOutput("o1", 1, [{ seq: 3, stream: "stderr", data: "late" }])).toEqual({
      whole: 0,
    });
    const stored = await store.readOutput("o1");
    expect(stored.map((chunk) => chunk.data).join("")).toBe(
      "abcdefxyz\n[flotilla: output truncated at 10 bytes]\n",
    );
    expect(await redis.hmget(keys.task("o1"), "outputBytes", "outputTruncated")).toEqual(["9", "10"]);
  });
});
