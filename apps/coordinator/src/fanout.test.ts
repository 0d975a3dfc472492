import { describe, expect, it } from "vitest";
import { type Listener, TaskFanout } from "./fanout.js";
import { FrameWriter } from "./frames.js";
import type { StoredTask } from "./store.js";

interface TestListener extends Listener {
  readonly frames: Record<string, unknown>[];
}

function listener(): TestListener {
  const frames: Record<string, unknown>[] = [];
  return {
    frames,
    outbox: { push: (frame) => frames.push(JSON.parse(frame) as Record<string, unknown>) },
    watching: new Set(),
    awaiting: new Set(),
  };
}

function stored(id: string, state: string): StoredTask {
  return {
    id,
    spec: { kind: "call", handler: "noop" },
    state,
    priority: "normal",
    epoch: 1,
    attempt: 1,
    maxAttempts: 3,
    createdAt: 1,
    updatedAt: 2,
    score: 1,
    fields: { result: "42" },
  };
}

function setup(records: Record<string, StoredTask> = {}) {
  const work: Promise<unknown>[] = [];
  const loaded: string[] = [];
  const fanout = new TaskFanout<TestListener>(new FrameWriter(() => 1_700_000_000_000), {
    loadTask: async (taskId) => {
      loaded.push(taskId);
      return records[taskId];
    },
    guard: (promise) => work.push(promise),
  });
  return { fanout, loaded, settle: () => Promise.all(work) };
}

const event = (taskId: string, state: string) =>
  JSON.stringify({ taskId, state, at: 1, attempt: 1, epoch: 1 });

describe("TaskFanout", () => {
  it("sends a task's events to its watchers and every event to those who watch everything", () => {
    const { fanout } = setup();
    const watcher = listener();
    const everything = listener();
    const bystander = listener();
    fanout.endReplay(fanout.watch(watcher, "t1"));
    fanout.watchEverything(everything);
    fanout.event("t1", event("t1", "running"), false);
    fanout.event("t2", event("t2", "running"), false);
    expect(watcher.frames.map((f) => [f.type, f.taskId, f.state])).toEqual([["task.event", "t1", "running"]]);
    expect(everything.frames.map((f) => f.taskId)).toEqual(["t1", "t2"]);
    expect(bystander.frames).toEqual([]);
    // One frame per event, whoever gets it.
    expect(new Set([...watcher.frames, ...everything.frames].map((f) => f.id)).size).toBe(2);
  });

  it("holds what comes during a replay and sends it after, in order; progress is not held", () => {
    const { fanout } = setup();
    const watcher = listener();
    const watch = fanout.watch(watcher, "t1");
    fanout.output("t1", () => JSON.stringify({ type: "task.output", seq: 3 }));
    fanout.progress("t1", () => JSON.stringify({ type: "task.progress" }));
    fanout.event("t1", event("t1", "running"), false);
    expect(watcher.frames).toEqual([]);
    watcher.outbox.push(JSON.stringify({ type: "replayed" }));
    fanout.endReplay(watch);
    fanout.output("t1", () => JSON.stringify({ type: "task.output", seq: 4 }));
    expect(watcher.frames.map((f) => f.type)).toEqual([
      "replayed",
      "task.output",
      "task.event",
      "task.output",
    ]);
  });

  it("builds no frame when no one would get it", () => {
    const { fanout } = setup();
    const build = () => {
      throw new Error("built for no one");
    };
    fanout.output("t1", build);
    fanout.progress("t1", build);
    fanout.fleetEvent(build);
    fanout.event("t1", event("t1", "running"), false);
  });

  it("ends live watches at a terminal event; a watch still replaying ends after its replay", () => {
    const { fanout } = setup();
    const live = listener();
    const replaying = listener();
    fanout.endReplay(fanout.watch(live, "t1"));
    const watch = fanout.watch(replaying, "t1");
    fanout.event("t1", event("t1", "succeeded"), true);
    expect(live.watching.has("t1")).toBe(false);
    expect(replaying.watching.has("t1")).toBe(true);
    fanout.endReplay(watch);
    expect(replaying.frames.map((f) => f.state)).toEqual(["succeeded"]);
    fanout.unwatch(replaying, "t1");
    fanout.event("t1", event("t1", "succeeded"), true);
    expect(live.frames).toHaveLength(1);
    expect(replaying.frames).toHaveLength(1);
  });

  it("sends task.done to every waiter once, with the record the end brought or one read back", async () => {
    const { fanout, loaded, settle } = setup({ t2: stored("t2", "failed") });
    const a = listener();
    const b = listener();
    fanout.await(a, "t1");
    fanout.await(b, "t1");
    fanout.await(a, "t2");
    expect(fanout.awaited("t1")).toBe(true);
    fanout.event("t1", event("t1", "succeeded"), true, stored("t1", "succeeded"));
    fanout.event("t2", event("t2", "failed"), true);
    await settle();
    fanout.event("t1", event("t1", "succeeded"), true, stored("t1", "succeeded"));
    await settle();
    expect(loaded).toEqual(["t2"]);
    expect(a.frames.map((f) => [f.type, f.taskId])).toEqual([
      ["task.done", "t1"],
      ["task.done", "t2"],
    ]);
    expect(b.frames.map((f) => (f.record as { result: unknown }).result)).toEqual([42]);
    expect(a.awaiting.size + b.awaiting.size).toBe(0);
    expect(fanout.awaited("t1")).toBe(false);
  });

  it("answers a duplicate waiting submit at once when the task is over, and reads again when it was not", async () => {
    const { fanout, loaded } = setup({ t1: stored("t1", "succeeded"), t2: stored("t2", "succeeded") });
    const waiter = listener();
    await fanout.awaitExisting(waiter, "t1", "succeeded");
    // Reported running, but it ended before the waiter registered: the read back finds that.
    await fanout.awaitExisting(waiter, "t2", "running");
    expect(loaded).toEqual(["t1", "t2"]);
    expect(waiter.frames.map((f) => f.taskId)).toEqual(["t1", "t2"]);
  });

  it("forgets a closed connection everywhere", async () => {
    const { fanout, settle } = setup();
    const gone = listener();
    fanout.watchEverything(gone);
    fanout.endReplay(fanout.watch(gone, "t1"));
    fanout.await(gone, "t2");
    fanout.drop(gone);
    expect(gone.watching.size + gone.awaiting.size).toBe(0);
    fanout.event("t1", event("t1", "running"), false);
    fanout.event("t2", event("t2", "succeeded"), true, stored("t2", "succeeded"));
    fanout.fleetEvent(() => JSON.stringify({ type: "broadcast" }));
    await settle();
    expect(gone.frames).toEqual([]);
    expect(fanout.awaited("t2")).toBe(false);
  });
});
