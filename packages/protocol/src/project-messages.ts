/**
 * Client requests on projects (see projects.ts), one per operation of the task-queue MCP server plus
 * `project.task.claim`. Each is answered by `reply` (the result shapes are in projects.ts) or `error`.
 *
 * `agent` and `capabilities` say who acts: the client sends what its connection was opened with, never
 * what a caller passed to a method. The coordinator prefixes `agent` with the token's name, so a token can
 * name its agents but never speak as another token's.
 */
import { z } from "zod";
import { message } from "./envelope.js";
import { CapabilitySchema } from "./primitives.js";
import {
  MAX_TASKS_PER_CALL,
  NewProjectTaskSchema,
  ProjectCreateInputSchema,
  ProjectFilterSchema,
  ProjectIdSchema,
  ProjectTaskIdSchema,
  ProjectTaskUpdateSchema,
} from "./projects.js";

/** An agent's name within its token (letters, digits, `._:-`). */
export const AgentNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, {
  message: "an agent name is 1-64 letters, digits or ._:- and starts with a letter or digit",
});

const actorShape = { agent: AgentNameSchema.optional() };
const claimerShape = { ...actorShape, capabilities: z.array(CapabilitySchema).max(256).optional() };

/** List projects, optionally by filter. Reply: `{ projects: ProjectSummary[] }`. */
export const ProjectsListMessageSchema = message("projects.list", { state: ProjectFilterSchema.optional() });
/** Read one project with its tasks. Reply: `Project`. */
export const ProjectReadMessageSchema = message("project.read", { projectId: ProjectIdSchema });
/** Create a project with its tasks. Reply: `Project`. */
export const ProjectCreateMessageSchema = message("project.create", {
  ...ProjectCreateInputSchema.shape,
  ...actorShape,
});
/** Delete a project and its tasks. Reply: `{ projectId, deleted: true }`. */
export const ProjectDeleteMessageSchema = message("project.delete", {
  projectId: ProjectIdSchema,
  ...actorShape,
});
/** Add tasks at the end of a project. Reply: `{ projectId, tasks: ProjectTask[] }`. */
export const ProjectAddTasksMessageSchema = message("project.addTasks", {
  projectId: ProjectIdSchema,
  tasks: z.array(NewProjectTaskSchema).min(1).max(MAX_TASKS_PER_CALL),
  ...actorShape,
});
/** Mark a project complete: only when every task is done and approved. Reply: `Project`. */
export const ProjectFinalizeMessageSchema = message("project.finalize", {
  projectId: ProjectIdSchema,
  ...actorShape,
});
/** List project tasks, of one project or all, optionally by filter. Reply: `{ tasks: ProjectTask[] }`. */
export const ProjectTasksListMessageSchema = message("project.tasks.list", {
  projectId: ProjectIdSchema.optional(),
  state: ProjectFilterSchema.optional(),
});
/** Read one project task (task ids are unique across projects). Reply: `ProjectTask`. */
export const ProjectTaskReadMessageSchema = message("project.task.read", {
  taskId: ProjectTaskIdSchema,
  projectId: ProjectIdSchema.optional(),
});
/** Add one task to a project. Reply: `ProjectTask`. */
export const ProjectTaskCreateMessageSchema = message("project.task.create", {
  projectId: ProjectIdSchema,
  task: NewProjectTaskSchema,
  ...actorShape,
});
/** Change a project task (the state rules apply). Reply: `ProjectTask`. */
export const ProjectTaskUpdateMessageSchema = message("project.task.update", {
  projectId: ProjectIdSchema,
  taskId: ProjectTaskIdSchema,
  update: ProjectTaskUpdateSchema,
  ...actorShape,
});
/** Remove a task that is not approved. Reply: `{ projectId, taskId, deleted: true }`. */
export const ProjectTaskDeleteMessageSchema = message("project.task.delete", {
  projectId: ProjectIdSchema,
  taskId: ProjectTaskIdSchema,
  ...actorShape,
});
/** Approve a done task: a person's act (admin scope). Reply: `ProjectTask`. */
export const ProjectTaskApproveMessageSchema = message("project.task.approve", {
  projectId: ProjectIdSchema,
  taskId: ProjectTaskIdSchema,
  ...actorShape,
});
/**
 * The next task of a project for this agent; with `claim`, atomically claimed for it. Reply:
 * `{ task: ProjectTask | null, message?: string }`.
 */
export const ProjectTaskNextMessageSchema = message("project.task.next", {
  projectId: ProjectIdSchema,
  claim: z.boolean().optional(),
  ...claimerShape,
});
/** Claim the best ready task of one project or of all. Reply: `{ task: ProjectTask | null, message?: string }`. */
export const ProjectTaskClaimMessageSchema = message("project.task.claim", {
  projectId: ProjectIdSchema.optional(),
  ...claimerShape,
});

/** A `projects.list` request. */
export type ProjectsListMessage = z.infer<typeof ProjectsListMessageSchema>;
/** A `project.read` request. */
export type ProjectReadMessage = z.infer<typeof ProjectReadMessageSchema>;
/** A `project.create` request. */
export type ProjectCreateMessage = z.infer<typeof ProjectCreateMessageSchema>;
/** A `project.delete` request. */
export type ProjectDeleteMessage = z.infer<typeof ProjectDeleteMessageSchema>;
/** A `project.addTasks` request. */
export type ProjectAddTasksMessage = z.infer<typeof ProjectAddTasksMessageSchema>;
/** A `project.finalize` request. */
export type ProjectFinalizeMessage = z.infer<typeof ProjectFinalizeMessageSchema>;
/** A `project.tasks.list` request. */
export type ProjectTasksListMessage = z.infer<typeof ProjectTasksListMessageSchema>;
/** A `project.task.read` request. */
export type ProjectTaskReadMessage = z.infer<typeof ProjectTaskReadMessageSchema>;
/** A `project.task.create` request. */
export type ProjectTaskCreateMessage = z.infer<typeof ProjectTaskCreateMessageSchema>;
/** A `project.task.update` request. */
export type ProjectTaskUpdateMessage = z.infer<typeof ProjectTaskUpdateMessageSchema>;
/** A `project.task.delete` request. */
export type ProjectTaskDeleteMessage = z.infer<typeof ProjectTaskDeleteMessageSchema>;
/** A `project.task.approve` request. */
export type ProjectTaskApproveMessage = z.infer<typeof ProjectTaskApproveMessageSchema>;
/** A `project.task.next` request. */
export type ProjectTaskNextMessage = z.infer<typeof ProjectTaskNextMessageSchema>;
/** A `project.task.claim` request. */
export type ProjectTaskClaimMessage = z.infer<typeof ProjectTaskClaimMessageSchema>;

/** Every project request by its `type`. */
export const PROJECT_MESSAGE_SCHEMAS = {
  "projects.list": ProjectsListMessageSchema,
  "project.read": ProjectReadMessageSchema,
  "project.create": ProjectCreateMessageSchema,
  "project.delete": ProjectDeleteMessageSchema,
  "project.addTasks": ProjectAddTasksMessageSchema,
  "project.finalize": ProjectFinalizeMessageSchema,
  "project.tasks.list": ProjectTasksListMessageSchema,
  "project.task.read": ProjectTaskReadMessageSchema,
  "project.task.create": ProjectTaskCreateMessageSchema,
  "project.task.update": ProjectTaskUpdateMessageSchema,
  "project.task.delete": ProjectTaskDeleteMessageSchema,
  "project.task.approve": ProjectTaskApproveMessageSchema,
  "project.task.next": ProjectTaskNextMessageSchema,
  "project.task.claim": ProjectTaskClaimMessageSchema,
} as const;

/** Every project request type. */
export const PROJECT_MESSAGE_TYPES = Object.keys(
  PROJECT_MESSAGE_SCHEMAS,
) as readonly (keyof typeof PROJECT_MESSAGE_SCHEMAS)[];

/** What each project request does, for the catalog. */
export const PROJECT_MESSAGE_SUMMARIES: Record<keyof typeof PROJECT_MESSAGE_SCHEMAS, string> = {
  "projects.list": "List projects (filter open, pending_approval, completed, all).",
  "project.read": "Read one project with its tasks.",
  "project.create": "Create a project with its tasks.",
  "project.delete": "Delete a project and its tasks.",
  "project.addTasks": "Add tasks at the end of a project.",
  "project.finalize": "Mark a project complete (every task done and approved).",
  "project.tasks.list": "List project tasks of one project or all (same filters).",
  "project.task.read": "Read one project task.",
  "project.task.create": "Add one task to a project.",
  "project.task.update": "Change a project task under the state rules.",
  "project.task.delete": "Remove a project task that is not approved.",
  "project.task.approve": "Approve a done project task (a person's act).",
  "project.task.next": "The next task of a project for this agent, claimed with claim: true.",
  "project.task.claim": "Claim the best ready task of one project or of all.",
};
