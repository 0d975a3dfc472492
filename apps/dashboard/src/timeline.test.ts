import type { TaskRecord } from "@flotilla/protocol";
import { describe, expect, it } from "vitest";
import { fleetSeries, nodeSeries, queuedTotal } from "./history.js";
import { timeline } from "./timeline.js";

const spec = { kind: "exec", argv: ["true"], priority: "normal" } as TaskRecord["spec"];

describe("timeline", () => {
  it("lists the record's times and the live events in order, each once", () => {
    const record = {
      id: "t-1",
      spec,
      state: "succeeded",
      attempt: 2,
      epoch: 2,
      node: "b",
      createdAt: 100,
      updatedAt: 900,
      queuedAt: 400,
      startedAt: 500,
      finishedAt: 900,
      attempts: [{ attempt: 1, node: "a", reason: "node a died", at: 300 }],
    } as TaskRecord;
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
