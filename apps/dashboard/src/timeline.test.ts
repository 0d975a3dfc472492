import type { TaskRecord } from "@flotilla/protocol";
import { describe, expect, it } from "vitest";
import { fleetSeries, nodeSeries, queuedTotal } from "./history.js";
import { timeline } from "./timeline.js";

const spec = { kind: "exec", argv: ["true"], priority: "normal" } as TaskRecord["spec"];

/** A task that succeeded on node b: created at 100, queued at 400, started at 500, finished at 900. */
function finished(fields: Partial<TaskRecord>): TaskRecord {
  return {
    id: "t-1",
    spec,
    state: "succeeded",
    attempt: 1,
    epoch: 2,
    node: "b",
    createdAt: 100,
    updatedAt: 900,
    queuedAt: 400,
    startedAt: 500,
    finishedAt: 900,
    ...fields,
  } as TaskRecord;
}

describe("timeline", () => {
  it("lists the record's times and the live events in order, each once", () => {
    const record = finished({
      attempt: 2,
      attempts: [{ attempt: 1, node: "a", reason: "node a died", at: 300 }],
    });
    const live = [
      { taskId: "t-1", state: "running", at: 501, node: "b", attempt: 2 },
      { taskId: "t-1", state: "succeeded", at: 902, node: "b", attempt: 2, reason: "exit 0" },
    ] as const;
    expect(timeline(record, live).map((change) => [change.at, change.state, change.node])).toEqual([
      [100, "accepted", undefined],
      [300, "attempt 1 ended", "a"],
      [400, "queued", "b"],
      [501, "running", "b"],
      [902, "succeeded", "b"],
    ]);
  });
});

describe("timeline with the task's stored changes", () => {
  it("prefers stored events to the record's times, keeps earlier attempts, and lists a change seen twice once", () => {
    const record = finished({ id: "t-2" });
    const stored = [
      { taskId: "t-2", state: "queued", at: 110, attempt: 0 },
      { taskId: "t-2", state: "leased", at: 120, node: "a", attempt: 0 },
      { taskId: "t-2", state: "queued", at: 400, node: "b", attempt: 1, reason: "node a died" },
      { taskId: "t-2", state: "leased", at: 450, node: "b", attempt: 1 },
      { taskId: "t-2", state: "running", at: 500, node: "b", attempt: 1 },
    ] as const;
    const live = [
      { taskId: "t-2", state: "running", at: 500, node: "b", attempt: 1 },
      { taskId: "t-2", state: "succeeded", at: 900, node: "b", attempt: 1 },
    ] as const;
    expect(
      timeline(record, [...stored, ...live]).map((change) => [change.at, change.state, change.node]),
    ).toEqual([
      [100, "accepted", undefined],
      [110, "queued", undefined],
      [120, "leased", "a"],
      [400, "queued", "b"],
      [450, "leased", "b"],
      [500, "running", "b"],
      [900, "succeeded", "b"],
    ]);
  });
});

describe("chart series from the coordinator's history", () => {
  const fleet = {
    queued: { critical: 1, high: 0, normal: 2, low: 0 },
    running: 3,
    throughputPerMin: 60,
    steals: 0,
    reroutes: 1,
    oldestWaitMs: 0,
    healthyNodes: 2,
  };
  const history = {
    intervalMs: 1000,
    samples: [
      {
        at: 1000,
        fleet,
        nodes: { a: { loadPerCore: 0.5, memoryUsed: 0.25, slotsUsed: 1, slotsTotal: 2, healthy: true } },
      },
      { at: 2000, fleet, nodes: {} },
    ],
  };

  it("leaves a gap where a node is missing from a sample", () => {
    expect(nodeSeries(history, "a")).toEqual({
      load: [
        [1, 2],
        [0.5, null],
      ],
      memory: [
        [1, 2],
        [0.25, null],
      ],
    });
  });

  it("reads fleet figures per sample", () => {
    expect(fleetSeries(history, queuedTotal, (sample) => sample.running)).toEqual([
      [1, 2],
      [3, 3],
      [3, 3],
    ]);
  });
});
