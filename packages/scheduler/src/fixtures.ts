import type { NodeView, TaskView } from "./types.js";

/** A healthy, idle Linux node with docker; override what a test cares about. (Test helper, not exported.) */
export function makeNode(id: string, overrides: Partial<NodeView> = {}): NodeView {
  return {
    id,
    capabilities: [],
    attributes: {
      os: "linux",
      arch: "x64",
      cores: 8,
      memoryBytes: 16 * 2 ** 30,
      docker: true,
      freeDiskBytes: 100 * 2 ** 30,
      labels: {},
    },
    slotsTotal: 2,
    slotsUsed: 0,
    queued: 0,
    load1: 0,
    healthy: true,
    ...overrides,
  };
}

/** A normal-priority task queued at 0; override what a test cares about. (Test helper, not exported.) */
export function makeTask(id: string, overrides: Partial<TaskView> = {}): TaskView {
  return { id, priority: "normal", enqueuedAt: 0, ...overrides };
}
