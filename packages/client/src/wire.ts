/**
 * The slice of the wire contract the client speaks: the shapes it sends and the shapes it reads back.
 * The names and fields are those of `@flotilla/protocol`.
 */

/** Task priorities, most urgent first. */
export type Priority = "critical" | "high" | "normal" | "low";

/** Every state a task can be in. */
export type TaskState =
  | "accepted"
  | "waiting"
  | "queued"
  | "leased"
  | "running"
  | "succeeded"
  | "failed"
  | "timed_out"
  | "cancelled"
  | "dead_lettered"
  | "expired";

/** States a task never leaves. */
export const TERMINAL_STATES: readonly TaskState[] = [
  "succeeded",
  "failed",
  "timed_out",
  "cancelled",
  "dead_lettered",
  "expired",
];

/** Whether `state` is final. */
export function isTerminalState(state: string): boolean {
  return (TERMINAL_STATES as readonly string[]).includes(state);
}

/** A placement rule on a node attribute. */
export interface Constraint {
  attr: string;
  op: "eq" | "neq" | "in" | "exists" | "gt" | "gte" | "lt" | "lte";
  value?: string | number | boolean | (string | number)[];
}

/** Fields every task spec may carry, whatever its kind. */
export interface TaskSpecCommon {
  needs?: Record<string, string | number | boolean>;
  constraints?: Constraint[];
  labels?: Record<string, string>;
  priority?: Priority;
  deadlineAt?: number;
  timeoutMs?: number;
  retry?: { maxAttempts: number; backoffMs?: number; maxBackoffMs?: number; retryOn?: number[] };
  idempotencyKey?: string;
  affinityKey?: string;
  submitter?: string;
  group?: string;
  maxWaitMs?: number;
  ttlMs?: number;
  node?: string;
  estimatedMs?: number;
}

/** A command to run: `argv` (no shell) or `shell` (one string run by the node's shell). */
export interface ExecTaskSpec extends TaskSpecCommon {
  kind: "exec";
  argv?: string[];
  shell?: string;
  cwd?: string;
  env?: Record<string, string>;
}

/** A named handler served by an agent. */
export interface CallTaskSpec extends TaskSpecCommon {
  kind: "call";
  handler: string;
  payload?: unknown;
}

/** What to run and where it may run. */
export type TaskSpec = ExecTaskSpec | CallTaskSpec;

/** An error as it travels on the wire. */
export interface WireError {
  code: string;
  message: string;
  retryable?: boolean;
  details?: Record<string, unknown>;
}

/** A task as the coordinator stores it. */
export interface TaskRecord {
  id: string;
  spec: TaskSpec;
  state: TaskState;
  attempt: number;
  epoch: number;
  node?: string;
  createdAt: number;
  updatedAt: number;
  queuedAt?: number;
  startedAt?: number;
  finishedAt?: number;
  exitCode?: number | null;
  signal?: string | null;
  durationMs?: number;
  usage?: { userCpuMs: number; systemCpuMs: number; maxRssBytes: number };
  result?: unknown;
  error?: WireError;
  waitingReason?: string;
  attempts?: { attempt: number; node: string; reason: string; at: number }[];
}

/** One state change of a task. */
export interface TaskEvent {
  taskId: string;
  state: TaskState;
  previous?: TaskState;
  at: number;
  node?: string;
  attempt: number;
  epoch?: number;
  reason?: string;
}

/** One piece of a task's output; `seq` is one sequence across both streams. */
export interface OutputChunk {
  taskId: string;
  stream: "stdout" | "stderr";
  seq: number;
  data: string;
  epoch?: number;
}

/** A node as `nodes.list` reports it. */
export interface NodeSummary {
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
  queued: number;
}

/** A dead-lettered task. */
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
  limit?: number;
}

/** Any frame on the wire: the envelope plus the type's fields at the top level. */
export interface WireMessage {
  v?: number;
  type: string;
  id: string;
  timestamp: string;
  from: string;
  [field: string]: unknown;
}

/**
 * Reads one inbound frame. Returns undefined for frames that are not a JSON object with a string `type`
 * and `id`: the client skips what it cannot read rather than tearing the connection down.
 */
export function readFrame(raw: string): WireMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  if (typeof record.type !== "string" || typeof record.id !== "string") return undefined;
  return record as WireMessage;
}
