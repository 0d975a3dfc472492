import { type RedisServer, startRedis } from "@flotilla/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publicTask } from "./records.js";
import {
  applyTransition,
  decodeTask,
  type LeaseBatch,
  type StoredTask,
  type StoreKeys,
  TaskStore,
  type Transition,
} from "./store.js";

function testKeys(prefix: string): StoreKeys {
  const p = (name: string): string => `${prefix}:${name}`;
  return {
    task: (id) => p(`task:{${id}}`),
    taskEvents: (id) => p(`task:{${id}}:events`),
    taskOutput: (id) => p(`task:{${id}}:output`),
    idempotency: (key) => p(`idem:${key}`),
    queue: (node) => p(`queue:${node}`),
    running: (node) => p(`running:${node}`),
    waiting: () => p("queue:waiting"),
    delayed: () => p("queue:delayed"),
    deadLetters: () => p("dlq"),
    finished: () => p("tasks:finished"),
    allTasks: () => p("tasks:all"),
    expiring: () => p("tasks:expiring"),
    taskUpdates: () => p("events:tasks:updates"),
    fence: () => p("coordinator:fence"),
    reply: (requestId) => p(`coordinator:reply:${requestId}`),
  };
}

describe("TaskStore (Lua scripts against a real redis-server)", () => {
  let server: RedisServer;
  let redis: Redis;
  let store: TaskStore;
  const keys = testKeys("t");

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
    store = new TaskStore(redis, keys, { idempotencyTtlSeconds: 60, outputCap: 1000 });
  });
  afterAll(async () => {
    redis.disconnect();
    await server.dispose();
  });

  const submit = (id: string, node: string, score: number, idempotencyKey?: string) =>
    store.submit({
      id,
      fields: {
        id,
        state: "queued",
        spec: '{"kind":"exec","argv":["true"]}',
        node,
        createdAt: 1,
        updatedAt: 1,
      },
      idempotencyKey,
      target: { node },
      score,
      event: JSON.stringify({ taskId: id, state: "queued" }),
      now: 1,
    });

  it("accepts once per idempotency key", async () => {
    expect(await submit("a1", "n1", 5, "key-1")).toEqual({ duplicate: false, taskId: "a1", state: "queued" });
    expect(await submit("a2", "n1", 5, "key-1")).toEqual({ duplicate: true, taskId: "a1", state: "queued" });
    expect(await redis.exists(keys.task("a2"))).toBe(0);
  });

  it("takes a submit sent twice (a resend) once, with or without an idempotency key, and answers alike", async () => {
    const accepted = { duplicate: false, taskId: "s1", state: "queued" };
    expect(await submit("s1", "n7", 5, "key-s1")).toEqual(accepted);
    expect(await submit("s1", "n7", 5, "key-s1")).toEqual(accepted);
    expect(await submit("s2", "n7", 6)).toEqual({ ...accepted, taskId: "s2" });
    expect(await submit("s2", "n7", 6)).toEqual({ ...accepted, taskId: "s2" });
    expect(await store.queuedIds("n7")).toEqual(["s1", "s2"]);
    expect(await redis.llen(keys.taskEvents("s1"))).toBe(1);
    expect(await redis.llen(keys.taskEvents("s2"))).toBe(1);
  });

  it("leases in score order, bumping epoch and attempt, never past the count", async () => {
    await submit("b1", "n2", 30);
    await submit("b2", "n2", 10);
    await submit("b3", "n2", 20);
    const { leases, remaining } = await store.lease("n2", 2, 100);
    expect(leases.map((lease) => [lease.taskId, lease.epoch, lease.attempt])).toEqual([
      ["b2", 1, 1],
      ["b3", 1, 1],
    ]);
    expect(remaining).toBe(1);
    expect(await store.runningIds("n2")).toHaveLength(2);
    expect(await store.queuedIds("n2")).toEqual(["b1"]);
    expect(await store.lease("n2", 5, 101)).toMatchObject({ leases: [{ taskId: "b1" }], remaining: 0 });
    expect(await store.lease("n2", 5, 102)).toEqual({ leases: [], remaining: 0 });
  });

  it("drops queue entries that are no longer queued there and leases the next ones instead", async () => {
    await submit("e1", "n6", 1);
    await submit("e2", "n6", 2);
    await submit("e3", "n6", 3);
    await submit("e4", "n6", 4);
    await redis.hset(keys.task("e1"), "state", "cancelled");
    await redis.hset(keys.task("e2"), "node", "elsewhere");
    const { leases, remaining } = await store.lease("n6", 2, 100);
    expect(leases.map((lease) => lease.taskId)).toEqual(["e3", "e4"]);
    expect(remaining).toBe(0);
    expect(await store.queuedIds("n6")).toEqual([]);
  });

  it("fences transitions by epoch and records exactly one terminal state", async () => {
    await submit("c1", "n3", 1);
    const {
      leases: [lease],
    } = await store.lease("n3", 1, 10);
    expect(lease?.epoch).toBe(1);
    const start = await store.transition("c1", {
      expectedEpoch: 1,
      from: ["leased"],
      to: "running",
      now: 11,
    });
    expect(start).toMatchObject({ ok: true, epoch: 1, attempt: 1 });
    const firstRun = [
      { seq: 0, stream: "stdout", data: "one" },
      { seq: 1, stream: "stderr", data: "two" },
    ];
    expect(await store.appendOutput("c1", 1, firstRun)).toEqual({ whole: 2 });
    // node declared dead: epoch bumped, task requeued on another node
    const requeue = await store.transition("c1", {
      from: ["leased", "running"],
      to: "queued",
      node: "n4",
      source: { kind: "set", key: keys.running("n3") },
      target: { key: keys.queue("n4"), score: 1 },
      bumpEpoch: true,
      reason: "node n3 dead",
      attemptRecord: { attempt: 1, node: "n3", reason: "node dead", at: 12 },
      now: 12,
    });
    expect(requeue).toMatchObject({ ok: true, epoch: 2, attempt: 1 });
    expect(JSON.parse((requeue as { eventJson: string }).eventJson)).toMatchObject({
      state: "queued",
      previous: "running",
      node: "n4",
      reason: "node n3 dead",
    });
    expect(await store.appendOutput("c1", 1, [{ seq: 0, stream: "stdout", data: "late" }])).toBeUndefined();
    const late = await store.transition("c1", {
      expectedEpoch: 1,
      from: ["leased", "running"],
      to: "succeeded",
      now: 13,
    });
    expect(late).toEqual({ ok: false, reason: "stale_epoch", epoch: 2 });
    const {
      leases: [again],
    } = await store.lease("n4", 1, 14);
    // The second attempt's output is numbered on from where the first one's stopped.
    expect(again).toMatchObject({ taskId: "c1", epoch: 3, attempt: 2, seqFrom: 2 });
    await store.transition("c1", { expectedEpoch: 3, from: ["leased"], to: "running", now: 15 });
    expect(await store.appendOutput("c1", 3, [{ seq: 2, stream: "stdout", data: "hello" }])).toEqual({
      whole: 1,
    });
    const done = await store.transition("c1", {
      expectedEpoch: 3,
      from: ["leased", "running"],
      to: "succeeded",
      source: { kind: "set", key: keys.running("n4") },
      fields: { exitCode: 0, finishedAt: 16 },
      now: 16,
    });
    expect(done.ok).toBe(true);
    const twice = await store.transition("c1", {
      expectedEpoch: 3,
      from: ["leased", "running"],
      to: "failed",
      now: 17,
    });
    expect(twice).toEqual({ ok: false, reason: "wrong_state", state: "succeeded" });
    const task = await store.getTask("c1");
    expect(task).toMatchObject({ state: "succeeded", epoch: 3, attempt: 2 });
    expect(JSON.parse(task?.fields.attempts ?? "[]")).toHaveLength(1);
    expect(await store.readOutput("c1")).toEqual([
      { seq: 0, stream: "stdout", data: "one", epoch: 1 },
      { seq: 1, stream: "stderr", data: "two", epoch: 1 },
      { seq: 2, stream: "stdout", data: "hello", epoch: 3 },
    ]);
    expect(await store.readOutput("c1", 2)).toHaveLength(1);
    expect(task?.fields.outputNext).toBe("3");
    const events = (await store.readEvents("c1")) as { state: string }[];
    expect(events.map((event) => event.state)).toEqual([
      "queued",
      "leased",
      "running",
      "queued",
      "leased",
      "running",
      "succeeded",
    ]);
  });

  it("returns the record as stored after the change, and deletes only fields that are there", async () => {
    await submit("r1", "n5", 1);
    await redis.hset(keys.task("r1"), "exitCode", "7", "waitingReason", "old");
    await store.lease("n5", 1, 10);
    const finished = await store.transition("r1", {
      expectedEpoch: 1,
      from: ["leased"],
      to: "failed",
      node: null,
      source: { kind: "set", key: keys.running("n5") },
      fields: { finishedAt: 20, exitCode: "", signal: "", waitingReason: "", result: '{"x":1}' },
      attemptRecord: { attempt: 1, node: "n5", reason: "exit code 7", at: 20 },
      returnTask: true,
      now: 20,
    });
    expect(finished.ok).toBe(true);
    const stored = await store.getTask("r1");
    expect(finished.ok && finished.task).toEqual(stored);
    expect(stored?.fields).not.toHaveProperty("exitCode");
    expect(stored?.fields).not.toHaveProperty("waitingReason");
    expect(stored?.fields).not.toHaveProperty("node");
    expect(stored?.fields).toMatchObject({ state: "failed", finishedAt: "20", result: '{"x":1}' });
    expect(JSON.parse(String(stored?.fields.attempts))).toEqual([
      { attempt: 1, node: "n5", reason: "exit code 7", at: 20 },
    ]);
    // Without the record: the same change on another task leaves the same hash.
    await submit("r2", "n5", 1);
    await store.lease("n5", 1, 10);
    const plain = await store.transition("r2", {
      expectedEpoch: 1,
      from: ["leased"],
      to: "succeeded",
      source: { kind: "set", key: keys.running("n5") },
      fields: { finishedAt: 21, exitCode: "", signal: "" },
      now: 21,
    });
    expect(plain).toMatchObject({ ok: true });
    expect((await store.getTask("r2"))?.fields).toMatchObject({ state: "succeeded", finishedAt: "21" });
  });

  it("returns the record a read gives after a retry, a requeue and a dead-lettering", async () => {
    await submit("r3", "n5", 1);
    await redis.hset(keys.task("r3"), "submitter", "alice", "queuedAt", "1", "priority", "high");
    await store.lease("n5", 1, 10);
    const changes: Transition[] = [
      {
        expectedEpoch: 1,
        from: ["leased"],
        to: "waiting",
        node: null,
        source: { kind: "set", key: keys.running("n5") },
        target: { key: keys.delayed(), score: 40 },
        fields: { waitingReason: "retrying in 20 ms", waitingIn: "delayed", avoidNode: "n5" },
        attemptRecord: { attempt: 1, node: "n5", reason: "spawn failed", at: 20 },
        now: 20,
      },
      {
        from: ["waiting"],
        to: "queued",
        node: "n6",
        source: { kind: "zset", key: keys.delayed() },
        target: { key: keys.queue("n6"), score: 50 },
        fields: { waitingReason: "", waitingIn: "", queuedAt: 50, score: 50 },
        now: 50,
      },
      {
        from: ["queued"],
        to: "dead_lettered",
        bumpEpoch: true,
        source: { kind: "zset", key: keys.queue("n6") },
        target: { key: keys.deadLetters(), score: 60 },
        fields: { finishedAt: 60, error: '{"code":"E_SPAWN","message":"no such file"}' },
        attemptRecord: { attempt: 2, node: "n6", reason: "spawn failed", at: 60 },
        reason: "out of attempts",
        now: 60,
      },
    ];
    for (const change of changes) {
      const result = await store.transition("r3", { ...change, returnTask: true });
      if (!result.ok || !result.task) throw new Error(`the change to ${change.to} failed`);
      expect(result.task).toEqual(await store.getTask("r3"));
      expect(result.task).toMatchObject({ state: change.to, priority: "high" });
    }
    expect(publicTask((await store.getTask("r3")) as StoredTask)).toMatchObject({
      submitter: "alice",
      node: "n6",
      attempts: [
        { attempt: 1, node: "n5" },
        { attempt: 2, node: "n6" },
      ],
    });
  });

  it("returns the record only when the caller's copy is out of date, and the copy then matches a read", async () => {
    await submit("k1", "n8", 1);
    await store.lease("n8", 1, 10);
    // The caller's copy: what it read (as it would have written it), then each change it makes applied,
    // with the number of events in the task's history (queued, leased).
    let copy = (await store.getTask("k1"))?.fields as Record<string, string>;
    const start: Transition = {
      expectedEpoch: 1,
      from: ["leased"],
      to: "running",
      fields: { startedAt: 11.5 },
      returnTask: true,
      knownEvents: 2,
      now: 12,
    };
    const started = await store.transition("k1", start);
    if (!started.ok) throw new Error("the start failed");
    expect(started.task).toBeUndefined();
    copy = applyTransition(copy, start, started);
    const finish: Transition = {
      expectedEpoch: 1,
      from: ["leased", "running"],
      to: "succeeded",
      source: { kind: "set", key: keys.running("n8") },
      fields: { finishedAt: 13, exitCode: "", signal: "", durationMs: 1, result: '{"ok":true}', node: "n8" },
      returnTask: true,
      knownEvents: 3,
      now: 13,
    };
    const finished = await store.transition("k1", finish);
    if (!finished.ok) throw new Error("the finish failed");
    expect(finished.task).toBeUndefined();
    const stored = await store.getTask("k1");
    expect(decodeTask(applyTransition(copy, finish, finished))).toEqual(stored);

    // A change the caller did not make (another coordinator's), recorded in the history as every state
    // change is: the record comes back as stored, even when the change kept updatedAt as it was.
    await submit("k2", "n8", 1);
    await store.lease("n8", 1, 20);
    await redis.hset(keys.task("k2"), "submitter", "someone-else");
    await redis.rpush(keys.taskEvents("k2"), JSON.stringify({ taskId: "k2", state: "leased", at: 20 }));
    const late = await store.transition("k2", { ...finish, knownEvents: 2, now: 22 });
    if (!late.ok || !late.task) throw new Error("the record did not come back");
    expect(late.task).toEqual(await store.getTask("k2"));
    expect(late.task.fields).toMatchObject({
      state: "succeeded",
      submitter: "someone-else",
      updatedAt: "22",
    });
    expect(late.task.fields).not.toHaveProperty("exitCode");
  });

  it("writes events as valid JSON, a reason with quotes, backslashes and control characters included", async () => {
    await submit("j1", "n9", 1);
    const {
      leases: [lease],
    } = await store.lease("n9", 1, 1_764_590_000_123);
    expect(JSON.parse(lease?.eventJson ?? "")).toEqual({
      taskId: "j1",
      state: "leased",
      previous: "queued",
      at: 1_764_590_000_123,
      node: "n9",
      attempt: 1,
      epoch: 1,
    });
    const reason = 'exit "2"\n\\ bad\ttab \u0001 ünïcode /';
    const failed = await store.transition("j1", {
      expectedEpoch: 1,
      from: ["leased"],
      to: "failed",
      source: { kind: "set", key: keys.running("n9") },
      reason,
      now: 1_764_590_000_456,
    });
    expect(failed.ok).toBe(true);
    const event = JSON.parse(failed.ok ? failed.eventJson : "");
    expect(event).toEqual({
      taskId: "j1",
      state: "failed",
      previous: "leased",
      at: 1_764_590_000_456,
      node: "n9",
      attempt: 1,
      epoch: 1,
      reason,
    });
    expect((await store.readEvents("j1")).slice(1)).toEqual([JSON.parse(lease?.eventJson ?? ""), event]);
  });

  it("steals queued tasks keeping their scores, skipping ones that left", async () => {
    await submit("d1", "v", 1);
    await submit("d2", "v", 2);
    await submit("d3", "v", 3);
    await store.lease("v", 1, 5);
    const moved = await store.steal("v", "thief", ["d1", "d2", "d3"], 6);
    expect(moved).toEqual(["d2", "d3"]);
    expect(await redis.zrange(keys.queue("thief"), "0", "-1", "WITHSCORES")).toEqual(["d2", "2", "d3", "3"]);
    expect((await store.getTask("d2"))?.node).toBe("thief");
  });
});

describe("ScriptRunner (calls of one turn in one batch script)", () => {
  let server: RedisServer;
  let redis: Redis;
  const keys = testKeys("b");

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
  });
  afterAll(async () => {
    redis.disconnect();
    await server.dispose();
  });

  const commandCalls = async (command: string): Promise<number> => {
    const stats = await redis.info("commandstats");
    return Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
  };

  it("sends the calls of one turn as one command, in order, each with its own reply or error", async () => {
    const store = new TaskStore(redis, keys, { idempotencyTtlSeconds: 60, outputCap: 1000 });
    await store.preload();
    const before = await commandCalls("evalsha");
    const task = (id: string) => ({
      id,
      fields: {
        id,
        state: "queued",
        spec: '{"kind":"call","handler":"h"}',
        node: "n",
        createdAt: 1,
        updatedAt: 1,
      },
      target: { node: "n" },
      score: 1,
      event: JSON.stringify({ taskId: id, state: "queued" }),
      now: 1,
    });
    // An idempotency key that is not a string: its submit fails inside Redis (WRONGTYPE) before it writes
    // anything, the others do not.
    await redis.hset(keys.idempotency("broken-key"), "not", "a string");
    const results = await Promise.allSettled([
      store.submit(task("x1")),
      store.submit({ ...task("broken"), idempotencyKey: "broken-key" }),
      store.submit(task("x2")),
      store.lease("n", 5, 2),
    ]);
    expect(await commandCalls("evalsha")).toBe(before + 1);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled", "fulfilled"]);
    expect((results[1] as PromiseRejectedResult).reason.message).toMatch(/WRONGTYPE/);
    // The lease ran after both submits: it found both tasks queued.
    const leased = (results[3] as PromiseFulfilledResult<LeaseBatch>).value;
    expect(leased.leases.map((lease) => lease.taskId).sort()).toEqual(["x1", "x2"]);
    expect(leased.remaining).toBe(0);
  });

  it("loads the batch script again when Redis has forgotten it", async () => {
    const store = new TaskStore(redis, keys, { idempotencyTtlSeconds: 60, outputCap: 1000 });
    await redis.script("FLUSH");
    expect(await store.lease("nobody", 1, 3)).toEqual({ leases: [], remaining: 0 });
  });
});
