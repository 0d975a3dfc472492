/**
 * The shapes the client reads back from the coordinator that `@flotilla/protocol` leaves open (the
 * `result` of a `reply` is `unknown` on the wire), and the client's own views of pushed messages.
 */
import type { EventRecord, Message, TaskState } from "@flotilla/protocol";

/** One state change of a task, as `task.event` carries it. */
export type TaskEvent = EventRecord;

/** One piece of a task's output; `seq` is one sequence across both streams. */
export interface OutputChunk {
  taskId: string;
  stream: "stdout" | "stderr";
  seq: number;
  data: string;
  epoch: number;
}

/** A node as `nodes.list` reports it. */
export interface NodeView {
  id: string;
  host: string;
  os: string;
  arch: string;
  slotsTotal: number;
  slotsUsed: number;
  load1: number;
  status: string;
  health: "healthy" | "suspect" | "dead";
  breaker: "closed" | "open" | "half_open";
  draining: boolean;
  labels: Record<string, string>;
  capabilities: string[];
  /** Tasks waiting in the node's local queue. */
  queued: number;
  /** The machine's memory and what was free at its last heartbeat, bytes (coordinators before 0.2: absent). */
  memoryBytes?: number;
  memoryFreeBytes?: number;
  /** When the coordinator last heard from the node (epoch ms). */
  lastHeartbeatAt?: number;
  /** Tasks the node finished, and those stolen from or rerouted off it, since the coordinator started. */
  stats?: { finished: number; steals: number; reroutes: number };
}

/** A dead-lettered task as `dlq.list` reports it. */
export interface DlqEntry {
  taskId: string;
  attempts: number;
  reason: string;
  at: number;
}

/** Filter for `tasks.list`. */
export interface TaskFilter {
  state?: TaskState;
  node?: string;
  /** At most this many, newest first (1..1000). */
  limit?: number;
}

/** A message pushed to `events()` subscribers: task events, broadcasts, node changes. */
export type FleetEvent = Message;
