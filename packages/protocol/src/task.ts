import { z } from "zod";
import { type ErrorCode, isErrorCode } from "./errors.js";
import {
  DurationMsSchema,
  EpochMsSchema,
  IdSchema,
  LabelsSchema,
  NulFreeStringSchema,
} from "./primitives.js";

/** Task priorities, most urgent first. `critical` always runs first; the others age so none starves. */
/** The longest a task may wait for a capable node (`maxWaitMs`): 7 days. */
export const MAX_WAIT_MS = 7 * 24 * 60 * 60 * 1000;

export const PRIORITIES = ["critical", "high", "normal", "low"] as const;
/** A task priority. */
export type Priority = (typeof PRIORITIES)[number];
/** A task priority. */
export const PrioritySchema = z.enum(PRIORITIES);

/** Every state a task can be in. See DESIGN.md, "Task lifecycle". */
export const TASK_STATES = [
  "accepted",
  "waiting",
  "queued",
  "leased",
  "running",
  "succeeded",
  "failed",
  "timed_out",
  "cancelled",
  "dead_lettered",
  "expired",
] as const;
/** A task's state. */
export type TaskState = (typeof TASK_STATES)[number];
/** A task's state. */
export const TaskStateSchema = z.enum(TASK_STATES);

/** The states a task never leaves. */
export const TERMINAL_STATES = [
  "succeeded",
  "failed",
  "timed_out",
  "cancelled",
  "dead_lettered",
  "expired",
] as const satisfies readonly TaskState[];
/** A state a task never leaves. */
export type TerminalState = (typeof TERMINAL_STATES)[number];

const terminalStates: ReadonlySet<string> = new Set(TERMINAL_STATES);
/** Whether `state` is final. */
export function isTerminalState(state: TaskState): state is TerminalState {
  return terminalStates.has(state);
}

/** How one run of a task ended. */
export const TASK_OUTCOMES = ["succeeded", "failed", "timed_out", "cancelled"] as const;
/** How one run of a task ended. */
export const TaskOutcomeSchema = z.enum(TASK_OUTCOMES);
/** How one run of a task ended. */
export type TaskOutcome = z.infer<typeof TaskOutcomeSchema>;

/**
 * An error code on the wire. Decoding accepts any code so a newer peer's codes do not break an older one;
 * the type still offers the known codes.
 */
export const ErrorCodeSchema = z.string().min(1).max(64) as unknown as z.ZodType<
  ErrorCode | (string & {}),
  string
>;

/** Whether a code read off the wire is one this package knows. */
export const isKnownErrorCode: (code: string) => code is ErrorCode = isErrorCode;

/** An error as it travels: the fields of an `error` message, of `task.finish.error` and of records. */
export const WireErrorSchema = z.object({
  code: ErrorCodeSchema,
  message: z.string(),
  retryable: z.boolean().optional(),
  details: z.record(z.string(), z.unknown()).optional(),
});
/** An error as it travels. */
export type WireError = z.infer<typeof WireErrorSchema>;

/** The comparison a {@link Constraint} applies to a node attribute. */
export const CONSTRAINT_OPS = ["eq", "neq", "in", "exists", "gt", "gte", "lt", "lte"] as const;
/** The comparison a constraint applies. */
export type ConstraintOp = (typeof CONSTRAINT_OPS)[number];

const scalarSchema = z.union([z.string(), z.number(), z.boolean()]);
const attrSchema = z.string().min(1).max(128);

/**
 * A placement rule on a node attribute (`os`, `arch`, `cores`, a label, a capability…). Split by `op` so an
 * `in` always has a list and an `exists` never has a value.
 */
export const ConstraintSchema = z.discriminatedUnion("op", [
  z.object({ attr: attrSchema, op: z.enum(["eq", "neq"]), value: scalarSchema }),
  z.object({ attr: attrSchema, op: z.literal("in"), value: z.array(z.union([z.string(), z.number()])) }),
  z.object({ attr: attrSchema, op: z.literal("exists") }),
  z.object({
    attr: attrSchema,
    op: z.enum(["gt", "gte", "lt", "lte"]),
    value: z.union([z.number(), z.string()]),
  }),
]);
/** A placement rule on a node attribute. */
export type Constraint = z.infer<typeof ConstraintSchema>;

/** How a failed task is retried. */
export const RetryPolicySchema = z.object({
  maxAttempts: z.int().min(1).max(100),
  backoffMs: DurationMsSchema.optional(),
  maxBackoffMs: DurationMsSchema.optional(),
  /** Exit codes that count as retryable failures; without it only node faults are retried. */
  retryOn: z.array(z.int()).optional(),
});
/** How a failed task is retried. */
export type RetryPolicy = z.infer<typeof RetryPolicySchema>;

/** The longest timeout a task may ask for: seven days. */
export const MAX_TIMEOUT_MS = 7 * 24 * 60 * 60 * 1000;

/** Fields every task kind shares: placement, priority, timing, retries, identity. */
const taskCommonShape = {
  /**
   * Shorthand requirements: `{ docker: true }` needs the capability, `{ os: "linux" }` an equal attribute.
   */
  needs: z.record(z.string().min(1), z.union([z.string(), z.number(), z.boolean()])).optional(),
  constraints: z.array(ConstraintSchema).optional(),
  labels: LabelsSchema.optional(),
  priority: PrioritySchema.default("normal"),
  /** Latest acceptable finish, epoch ms; used by EDF ordering and admission control. */
  deadlineAt: EpochMsSchema.optional(),
  timeoutMs: z.int().min(1).max(MAX_TIMEOUT_MS).optional(),
  retry: RetryPolicySchema.optional(),
  /** Two submits with the same key are one task. */
  idempotencyKey: z.string().min(1).max(256).optional(),
  /** Tasks sharing this key prefer the same node (warm caches). */
  affinityKey: z.string().min(1).max(256).optional(),
  /** Who submitted: the unit of fair sharing. */
  submitter: z.string().min(1).max(128).optional(),
  group: z.string().min(1).max(128).optional(),
  /** How long the task may wait for a capable node before failing with E_NODE_UNAVAILABLE. */
  maxWaitMs: DurationMsSchema.max(MAX_WAIT_MS, {
    error:
      "maxWaitMs is at most 7 days (604800000 ms): a task that may wait longer should be submitted later",
  }).optional(),
  /** How long the task may sit queued before it expires. */
  ttlMs: DurationMsSchema.optional(),
  /** Pin the task to this node. */
  node: IdSchema.optional(),
  estimatedMs: DurationMsSchema.optional(),
};

/** Environment variables of a command: names without `=` or NUL, values without NUL. */
const EnvSchema = z.record(
  z
    .string()
    // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting NUL is the point.
    .regex(/^[^=\x00]+$/, { message: "environment names must be non-empty, without '=' or NUL" }),
  NulFreeStringSchema,
);

/** What a reader sees in place of each `secretEnv` value. */
export const SECRET_MASK = "***";

/** A command to run: exactly one of `argv` (no shell) or `shell` (run by the node's shell). */
export const ExecTaskSpecSchema = z
  .object({
    kind: z.literal("exec"),
    argv: z.array(NulFreeStringSchema).min(1).optional(),
    shell: NulFreeStringSchema.min(1).optional(),
    cwd: NulFreeStringSchema.min(1).optional(),
    env: EnvSchema.optional(),
    /**
     * Variables whose values only the agent and the process see: every read of the task shows each as
     * `***`, and the coordinator keeps them encrypted. Set over `env`.
     */
    secretEnv: EnvSchema.optional(),
    ...taskCommonShape,
  })
  .refine((spec) => (spec.argv === undefined) !== (spec.shell === undefined), {
    message: "give exactly one of argv (a list, run without a shell) or shell (a command line)",
    path: ["argv"],
  });
/** A command to run. */
export type ExecTaskSpec = z.infer<typeof ExecTaskSpecSchema>;

/** A named handler the node serves in-process (`agent.hello.handlers`), called with a JSON payload. */
export const CallTaskSpecSchema = z.object({
  kind: z.literal("call"),
  handler: z.string().min(1).max(128),
  payload: z.unknown().optional(),
  ...taskCommonShape,
});
/** A named handler call. */
export type CallTaskSpec = z.infer<typeof CallTaskSpecSchema>;

/** What to run and under which rules. */
export const TaskSpecSchema = z.discriminatedUnion("kind", [ExecTaskSpecSchema, CallTaskSpecSchema]);
/** What to run and under which rules (after defaults: `priority` is always set). */
export type TaskSpec = z.infer<typeof TaskSpecSchema>;
/** A task spec as a submitter writes it (`priority` may be left out). */
export type TaskSpecInput = z.input<typeof TaskSpecSchema>;

/** The fields of a task state change, shared by the `task.event` message and the stored event list. */
export const taskEventShape = {
  taskId: IdSchema,
  state: TaskStateSchema,
  previous: TaskStateSchema.optional(),
  /** When the change happened, epoch ms. */
  at: EpochMsSchema,
  node: IdSchema.optional(),
  attempt: z.int().min(0),
  epoch: z.int().min(0).optional(),
  reason: z.string().optional(),
};
