/**
 * Projects: ordered lists of work items ("project tasks") that agents on different machines share through
 * the fleet's Redis. The names, statuses and list filters are those of the widely used task-queue MCP
 * server, so prompts written for it keep working; Flotilla adds priority, dependencies (`after`), required
 * capabilities (`needs`), claims with a lease, and `run` (a command the fleet runs in place of an agent).
 *
 * A project task is not a fleet task: a fleet task (`task:{id}`, see task.ts) is one command on one node; a
 * project task is a unit of work with a person's approval at the end. A project task with `run` becomes a
 * fleet task when it is ready, and the fleet task's result becomes its `completedDetails`.
 */
import { z } from "zod";
import {
  CapabilitySchema,
  DurationMsSchema,
  EpochMsSchema,
  IdSchema,
  NulFreeStringSchema,
} from "./primitives.js";
import { MAX_TIMEOUT_MS, PrioritySchema } from "./task.js";

/** A project id: `proj-1`, `proj-2`, … */
export const ProjectIdSchema = z.string().regex(/^proj-[1-9][0-9]{0,15}$/, {
  message: "a project id looks like proj-1",
});
/** A project task id: `task-1`, `task-2`, … (unique across projects). */
export const ProjectTaskIdSchema = z.string().regex(/^task-[1-9][0-9]{0,15}$/, {
  message: "a project task id looks like task-1",
});

/** A project task's status, forward only except back to `not started` (to give work back). */
export const PROJECT_TASK_STATUSES = ["not started", "in progress", "done"] as const;
/** A project task's status. */
export const ProjectTaskStatusSchema = z.enum(PROJECT_TASK_STATUSES);
/** A project task's status. */
export type ProjectTaskStatus = z.infer<typeof ProjectTaskStatusSchema>;

/**
 * List filters, as the task-queue MCP server means them. Projects: `open` = not finalized,
 * `pending_approval` = not finalized and every task done, `completed` = finalized. Tasks: `open` = not
 * done, `pending_approval` = done and not approved, `completed` = done and approved. `all` = no filter.
 */
export const PROJECT_FILTERS = ["open", "pending_approval", "completed", "all"] as const;
/** A list filter. */
export const ProjectFilterSchema = z.enum(PROJECT_FILTERS);
/** A list filter. */
export type ProjectFilter = z.infer<typeof ProjectFilterSchema>;

/** The longest text field of a project or task (prompts and plans can be long, but not unbounded). */
export const MAX_PROJECT_TEXT = 65_536;
/** The most tasks one create or add carries. */
export const MAX_TASKS_PER_CALL = 1000;

const textSchema = z.string().max(MAX_PROJECT_TEXT);
const titleSchema = z.string().min(1).max(1024);

/**
 * A dependency: an existing project task id, or `#n` for the n-th task (from 1) of the same create or add
 * call (whose ids are not known before the call).
 */
export const AfterRefSchema = z.union([
  ProjectTaskIdSchema,
  z.string().regex(/^#[1-9][0-9]{0,3}$/, { message: "a reference into the same call looks like #1" }),
]);

/**
 * A command the fleet runs for the task once it is ready: it is submitted as an ordinary exec task whose
 * `needs` are the listed capabilities, and its exit code, duration and the tail of its output become the
 * task's `completedDetails` (exit code 0: done; otherwise given back to `not started` with `FAILED:`).
 */
export const ProjectRunSchema = z.object({
  argv: z.array(NulFreeStringSchema).min(1),
  needs: z.array(CapabilitySchema).max(64).optional(),
  cwd: NulFreeStringSchema.min(1).optional(),
  env: z.record(z.string().min(1), NulFreeStringSchema).optional(),
  timeoutMs: z.int().min(1).max(MAX_TIMEOUT_MS).optional(),
  /** Pin the run to one node. */
  node: IdSchema.optional(),
});
/** A command the fleet runs for a project task. */
export type ProjectRun = z.infer<typeof ProjectRunSchema>;

/** The fields of a new project task, as `create_project`, `add_tasks_to_project` and `create_task` take. */
export const NewProjectTaskSchema = z.object({
  title: titleSchema,
  description: textSchema,
  toolRecommendations: textSchema.optional(),
  ruleRecommendations: textSchema.optional(),
  priority: PrioritySchema.optional(),
  after: z.array(AfterRefSchema).max(256).optional(),
  needs: z.array(CapabilitySchema).max(64).optional(),
  run: ProjectRunSchema.optional(),
});
/** A new project task. */
export type NewProjectTask = z.input<typeof NewProjectTaskSchema>;

/** What `create_project` takes. */
export const ProjectCreateInputSchema = z.object({
  initialPrompt: z.string().min(1).max(MAX_PROJECT_TEXT),
  projectPlan: textSchema.optional(),
  autoApprove: z.boolean().optional(),
  tasks: z.array(NewProjectTaskSchema).max(MAX_TASKS_PER_CALL),
});
/** What `create_project` takes. */
export type ProjectCreateInput = z.input<typeof ProjectCreateInputSchema>;

/**
 * What `update_task` may change. `completedDetails` is required with `status: "done"`; an approved task
 * changes no more. `after` replaces the task's dependencies (a cycle is refused).
 */
export const ProjectTaskUpdateSchema = NewProjectTaskSchema.omit({ run: true, after: true })
  .partial()
  .extend({
    status: ProjectTaskStatusSchema.optional(),
    completedDetails: textSchema.optional(),
    after: z.array(ProjectTaskIdSchema).max(256).optional(),
  });
/** What `update_task` may change. */
export type ProjectTaskUpdate = z.input<typeof ProjectTaskUpdateSchema>;

/** A project task as Redis holds it and every read returns it. */
export const ProjectTaskSchema = z.object({
  id: ProjectTaskIdSchema,
  projectId: ProjectIdSchema,
  title: z.string(),
  description: z.string(),
  toolRecommendations: z.string().optional(),
  ruleRecommendations: z.string().optional(),
  status: ProjectTaskStatusSchema,
  approved: z.boolean(),
  /** `""` until the task is done (or given back with `FAILED:` details). */
  completedDetails: z.string(),
  priority: PrioritySchema,
  after: z.array(ProjectTaskIdSchema),
  needs: z.array(CapabilitySchema),
  run: ProjectRunSchema.optional(),
  /** Who holds the claim (the agent's identity, from its connection). */
  assignee: z.string().optional(),
  /** When the claim lapses unless its holder updates the task. */
  leaseExpiresAt: EpochMsSchema.optional(),
  /** The fleet task running `run`, once submitted. */
  fleetTaskId: IdSchema.optional(),
  createdAt: EpochMsSchema,
  updatedAt: EpochMsSchema,
  startedAt: EpochMsSchema.optional(),
  completedAt: EpochMsSchema.optional(),
});
/** A project task. */
export type ProjectTask = z.infer<typeof ProjectTaskSchema>;

/** A project with its tasks in order. */
export const ProjectSchema = z.object({
  projectId: ProjectIdSchema,
  initialPrompt: z.string(),
  projectPlan: z.string(),
  autoApprove: z.boolean(),
  /** Set by `finalize_project`. */
  completed: z.boolean(),
  createdAt: EpochMsSchema,
  updatedAt: EpochMsSchema,
  tasks: z.array(ProjectTaskSchema),
});
/** A project with its tasks. */
export type Project = z.infer<typeof ProjectSchema>;

/** One line of `list_projects`. */
export const ProjectSummarySchema = z.object({
  projectId: ProjectIdSchema,
  initialPrompt: z.string(),
  totalTasks: z.int().min(0),
  completedTasks: z.int().min(0),
  approvedTasks: z.int().min(0),
  completed: z.boolean(),
});
/** One line of `list_projects`. */
export type ProjectSummary = z.infer<typeof ProjectSummarySchema>;

/** Published on `events:tasks:updates` after every change of a project task. */
export const ProjectTaskUpdateEventSchema = z.object({
  projectId: ProjectIdSchema,
  taskId: ProjectTaskIdSchema,
  status: z.union([ProjectTaskStatusSchema, z.literal("deleted"), z.literal("approved")]),
  /** The agent that made the change (or holds the task), `null` when none. */
  agent: z.string().nullable(),
  /** When it was done, epoch ms; `null` while not done. */
  completionTime: EpochMsSchema.nullable(),
});
/** A project task change as published. */
export type ProjectTaskUpdateEvent = z.infer<typeof ProjectTaskUpdateEventSchema>;

/** The default claim lease: 30 minutes. */
export const DEFAULT_CLAIM_LEASE_MS = 30 * 60 * 1000;
/** A claim lease must be between these (a coordinator option). */
export const CLAIM_LEASE_BOUNDS_MS = { min: 100, max: 7 * 24 * 60 * 60 * 1000 } as const;
/** A claim lease length in ms, within {@link CLAIM_LEASE_BOUNDS_MS}. */
export const ClaimLeaseMsSchema = DurationMsSchema.min(CLAIM_LEASE_BOUNDS_MS.min).max(
  CLAIM_LEASE_BOUNDS_MS.max,
);
