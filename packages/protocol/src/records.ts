import { z } from "zod";
import { FingerprintSchema, NodeStatusSchema, UsageSchema } from "./node.js";
import { CapabilitySchema, EpochMsSchema, EpochSchema, IdSchema, LabelsSchema } from "./primitives.js";
import { TaskSpecSchema, TERMINAL_STATES, taskEventShape, WireErrorSchema } from "./task.js";

/** One earlier attempt of a task and why it ended. */
export const AttemptRecordSchema = z.object({
  attempt: z.int().min(1),
  node: IdSchema,
  reason: z.string(),
  at: EpochMsSchema,
});
/** One earlier attempt of a task. */
export type AttemptRecord = z.infer<typeof AttemptRecordSchema>;

/** What every task record holds whatever its state. */
const taskBaseShape = {
  id: IdSchema,
  spec: TaskSpecSchema,
  /** Attempts started so far (0 before the first lease). */
  attempt: z.int().min(0),
  /** The current lease epoch (0 before the first lease). */
  epoch: z.int().min(0),
  /** The node the task is queued on, leased to or ran on last. */
  node: IdSchema.optional(),
  createdAt: EpochMsSchema,
  updatedAt: EpochMsSchema,
  queuedAt: EpochMsSchema.optional(),
  startedAt: EpochMsSchema.optional(),
  attempts: z.array(AttemptRecordSchema).optional(),
};

/** What a finished task adds. */
const taskEndShape = {
  finishedAt: EpochMsSchema,
  exitCode: z.int().nullable().optional(),
  signal: z.string().nullable().optional(),
  durationMs: z.int().min(0).optional(),
  usage: UsageSchema.optional(),
  result: z.unknown().optional(),
  error: WireErrorSchema.optional(),
};

/**
 * A task as Redis holds it. The state decides which fields must be there: a `waiting` task says why, a
 * `queued` one names its node's queue, a `leased`/`running` one its node and a lease epoch, a finished one
 * when it finished.
 */
export const TaskRecordSchema = z.discriminatedUnion("state", [
  z.object({ ...taskBaseShape, state: z.literal("accepted") }),
  z.object({ ...taskBaseShape, state: z.literal("waiting"), waitingReason: z.string().min(1) }),
  z.object({ ...taskBaseShape, state: z.literal("queued"), node: IdSchema, queuedAt: EpochMsSchema }),
  z.object({ ...taskBaseShape, state: z.literal("leased"), node: IdSchema, epoch: EpochSchema }),
  z.object({
    ...taskBaseShape,
    state: z.literal("running"),
    node: IdSchema,
    epoch: EpochSchema,
    startedAt: EpochMsSchema,
  }),
  z.object({
    ...taskBaseShape,
    ...taskEndShape,
    state: z.enum(TERMINAL_STATES),
  }),
]);
/** A task as Redis holds it, discriminated on `state`. */
export type TaskRecord = z.infer<typeof TaskRecordSchema>;

/** A lease: `node` runs `taskId` under `epoch` until `expiresAt` unless renewed. */
export const LeaseSchema = z.object({
  taskId: IdSchema,
  node: IdSchema,
  epoch: EpochSchema,
  expiresAt: EpochMsSchema,
});
/** A lease. */
export type Lease = z.infer<typeof LeaseSchema>;

/** A task state change as stored in `task:{id}:events`. */
export const EventRecordSchema = z.object(taskEventShape);
/** A task state change as stored. */
export type EventRecord = z.infer<typeof EventRecordSchema>;

/**
 * A node in the registry hash `agent:{id}`. `id`, `host`, `type`, `capabilities` and `lastSeenAt` are what
 * other bridges write too (`last_seen` in the hash); the rest is Flotilla's and absent on their records.
 */
export const NodeRecordSchema = z.object({
  id: IdSchema,
  host: z.string().min(1),
  /** The kind of agent: Flotilla's write `"flotilla"`; other bridges write their own. */
  type: z.string().min(1),
  capabilities: z.array(CapabilitySchema),
  lastSeenAt: EpochMsSchema,
  version: z.string().min(1).optional(),
  slots: z.int().min(1).optional(),
  labels: LabelsSchema.optional(),
  fingerprint: FingerprintSchema.optional(),
  status: NodeStatusSchema.optional(),
  draining: z.boolean().optional(),
  /** The circuit breaker's state name (`closed`, `open`, `half_open`). */
  breaker: z.string().min(1).optional(),
});
/** A node in the registry. */
export type NodeRecord = z.infer<typeof NodeRecordSchema>;
