/**
 * The shapes the client reads back from the coordinator that `@flotilla/protocol` leaves open (the
 * `result` of a `reply` is `unknown` on the wire), and the client's own views of pushed messages.
 */
import type { Alert, EventRecord, Message, TaskState } from "@flotilla/protocol";

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
  /** The agent's version (absent from coordinators before 0.1.0's doctor). */
  version?: string;
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

/** An alert that fired or resolved, as {@link alertChange} reads it from a fleet event. */
export interface AlertChange {
  type: "alert.fired" | "alert.resolved";
  alert: Alert;
}

/**
 * The alert change a fleet event carries, or undefined for any other event. The coordinator sends alert
 * changes to `events()` as `broadcast` frames from `coordinator` named `alert.fired` / `alert.resolved`,
 * the alert's fields in `data` (beside the event's own `from`, `type` and `timestamp`).
 */
export function alertChange(event: FleetEvent): AlertChange | undefined {
  if (event.type !== "broadcast" || event.from !== "coordinator") return undefined;
  if (event.message !== "alert.fired" && event.message !== "alert.resolved") return undefined;
  const data = event.data as (Alert & { from?: unknown; type?: unknown; timestamp?: unknown }) | undefined;
  if (typeof data !== "object" || data === null || typeof data.id !== "string") return undefined;
  const { from: _from, type: _type, timestamp: _timestamp, ...alert } = data;
  return { type: event.message, alert };
}

/** A task's stored output as `client.output` reads it. */
export interface StoredOutput {
  taskId: string;
  /** The task's state when it was read. */
  state: TaskState;
  chunks: { seq: number; stream: "stdout" | "stderr"; data: string }[];
  /** The seq to read from next time. */
  nextSeq: number;
}
