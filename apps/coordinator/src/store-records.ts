/**
 * What the task store reads and writes, as data: the Redis names it uses (`StoreKeys`), a task as kept
 * in its hash (`StoredTask`) and how a hash is decoded, leases, output chunks, transitions and what they
 * return, and `applyTransition`, the hash a transition leaves, for callers that keep their own copy.
 * Pure types and functions; `store.ts` and `store-reads.ts` do the I/O.
 */
import { TERMINAL_STATES } from "@flotilla/protocol";

/** Every Redis name the coordinator uses, with the fleet's optional prefix applied. */
export interface StoreKeys {
  task(id: string): string;
  taskEvents(id: string): string;
  taskOutput(id: string): string;
  idempotency(key: string): string;
  queue(node: string): string;
  running(node: string): string;
  waiting(): string;
  delayed(): string;
  deadLetters(): string;
  /** Ended tasks other than dead-lettered ones, by end time (see `retention.ts`). */
  finished(): string;
  allTasks(): string;
  expiring(): string;
  taskUpdates(): string;
  /** The fleet's fencing token (see `leadership.ts`). */
  fence(): string;
  /** Where the reply of a script batch with this request id is kept for a resend. */
  reply(requestId: string): string;
}

/** A task as the store keeps it: one Redis hash of flat string fields, decoded. */
export interface StoredTask {
  id: string;
  spec: unknown;
  state: string;
  priority: string;
  epoch: number;
  attempt: number;
  maxAttempts: number;
  node?: string;
  createdAt: number;
  updatedAt: number;
  score: number;
  fields: Record<string, string>;
}

/** One lease handed to an agent: run task `id` under fencing token `epoch`. */
export interface Lease {
  taskId: string;
  epoch: number;
  attempt: number;
  specJson: string;
  /** The `leased` state-change event as stored (JSON). */
  eventJson: string;
  /** The `seq` the run's output starts at: one past what earlier attempts stored. */
  seqFrom: number;
}

/** One stored output chunk; `epoch` is that of the run that wrote it (absent in output stored before it was kept). */
export interface StoredChunk {
  seq: number;
  stream: "stdout" | "stderr";
  data: string;
  epoch?: number;
}

/** What one lease script did: the tasks it leased, and how many it left in the queue. */
export interface LeaseBatch {
  leases: Lease[];
  remaining: number;
}

/** Tasks by state, and those not yet leased by priority (see `TaskReads.census`). */
export interface TaskCensus {
  states: Record<string, number>;
  priorities: Record<string, number>;
  /** When the longest-waiting task not yet leased was queued (or submitted); absent when none waits. */
  oldestWaitingSince?: number;
}

/** Where a submitted task goes first. */
export type SubmitTarget = { node: string } | { waitingReason: string };

/** Result of `TaskStore.transition`. */
export type TransitionResult =
  | { ok: true; epoch: number; attempt: number; eventJson: string; task?: StoredTask | undefined }
  | { ok: false; reason: "stale_epoch"; epoch: number }
  | { ok: false; reason: "wrong_state"; state: string }
  | { ok: false; reason: "not_found" };

/** A state change of one task, fenced by its epoch. See `lua/transition-4.lua`. */
export interface Transition {
  expectedEpoch?: number;
  from: readonly string[];
  to: string;
  /** New node, or `null` to clear it; unchanged when absent. */
  node?: string | null;
  source?: { kind: "zset" | "set"; key: string };
  /** Where the task goes; a task that ends (dead-lettered aside) goes to the finished index by default. */
  target?: { key: string; score: number };
  bumpEpoch?: boolean;
  attemptDelta?: number;
  reason?: string;
  attemptRecord?: Record<string, unknown>;
  /** Fields to set; `""` deletes one. */
  fields?: Record<string, string | number>;
  /** Also read the task back after the change (one round trip instead of two). */
  returnTask?: boolean;
  /**
   * With `returnTask`: how many events the task's history held when the caller's own copy of the task
   * hash was last in step (see {@link applyTransition}). Every state change records one, so the task
   * comes back only when a change the caller did not make came in between; otherwise the caller applies
   * this change to its copy.
   */
  knownEvents?: number;
  now: number;
}

/** The ends retention counts as finished: a dead-lettered task is kept by a rule of its own. */
export const FINISHED_STATES: readonly string[] = TERMINAL_STATES.filter(
  (state) => state !== "dead_lettered",
);

/** What `TaskStore.appendOutput` stored: chunks whole, and the one cut at the byte cap, if any. */
export interface StoredOutput {
  whole: number;
  /** The data stored for the chunk that crossed the byte cap: its first part and the marker line. */
  cut?: string;
}

/** Which tasks `TaskStore.forget` deletes from an index: the due oldest, or the ids given. */
export type ForgetSelection =
  | { cutoff: number | undefined; keep: number | undefined; batch: number }
  | { ids: readonly string[] };

function numberField(hash: Record<string, string>, field: string, fallback = 0): number {
  const value = hash[field];
  return value === undefined || value === "" ? fallback : Number(value);
}

/**
 * The task hash after `change`, worked out as `lua/transition-4.lua` writes it from the hash before it
 * (numbers may still be numbers) and the epoch and attempt the script returned. For a caller that keeps
 * its own copy of the hash; a change that appends an attempt record (which the script encodes) is not
 * for this.
 */
export function applyTransition(
  hash: Readonly<Record<string, string | number>>,
  change: Transition,
  result: { epoch: number; attempt: number },
): Record<string, string> {
  if (change.attemptRecord) throw new Error("applyTransition: attempt records are written by the script");
  // Numbers as Redis holds them: in decimal, as they were sent.
  const next: Record<string, string> = {};
  for (const field in hash) next[field] = String(hash[field]);
  next.state = change.to;
  next.updatedAt = String(change.now);
  next.epoch = String(result.epoch);
  next.attempt = String(result.attempt);
  if (change.node === null) delete next.node;
  else if (change.node !== undefined) next.node = change.node;
  const fields = change.fields;
  if (fields) {
    for (const field in fields) {
      const value = fields[field] as string | number;
      if (value === "") delete next[field];
      else next[field] = String(value);
    }
  }
  return next;
}

/** Decodes a task hash; `undefined` for an empty hash (no such task). */
export function decodeTask(hash: Record<string, string>): StoredTask | undefined {
  if (hash.id === undefined) return undefined;
  const task: StoredTask = {
    id: hash.id,
    spec: hash.spec === undefined ? undefined : (JSON.parse(hash.spec) as unknown),
    state: hash.state ?? "unknown",
    priority: hash.priority ?? "normal",
    epoch: numberField(hash, "epoch"),
    attempt: numberField(hash, "attempt"),
    maxAttempts: numberField(hash, "maxAttempts", 1),
    createdAt: numberField(hash, "createdAt"),
    updatedAt: numberField(hash, "updatedAt"),
    score: numberField(hash, "score"),
    fields: hash,
  };
  if (hash.node !== undefined && hash.node !== "") task.node = hash.node;
  return task;
}
