/**
 * `client.projects`: the task lists agents share through the fleet (see `@flotilla/protocol` projects.ts).
 * The method names follow the tools of the task-queue MCP server (`list_projects` → `list`, `read_task` →
 * `readTask`, `get_next_task` → `nextTask`, …) and take the same arguments. Who acts (the agent name and
 * its capabilities) comes from the options the connection was opened with, never from an argument.
 */
import type {
  MessageFields,
  MessageType,
  NewProjectTask,
  Project,
  ProjectCreateInput,
  ProjectFilter,
  ProjectSummary,
  ProjectTask,
  ProjectTaskUpdate,
} from "@flotilla/protocol";
import type { RequestOptions } from "./client-options.js";

/** What `nextTask` and `claimNext` answer: a task, or none and why. */
export interface NextTaskResult {
  task: ProjectTask | null;
  /** Why there is no task (all done and approved, waiting on dependencies, none matching, …). */
  message?: string;
}

/** Who acts on projects: set once per connection (`ConnectOptions.agent` / `capabilities`). */
export interface ProjectActor {
  /** The agent's name within its token: the coordinator records `<token name>/<agent>` as the assignee. */
  agent?: string | undefined;
  /** The capabilities a claim matches against project tasks' `needs`. */
  capabilities?: readonly string[] | undefined;
}

/** The project operations of a client. */
export interface ProjectsApi {
  /** `list_projects`: projects with task counts, optionally by filter. */
  list(state?: ProjectFilter, options?: RequestOptions): Promise<ProjectSummary[]>;
  /** `read_project`: one project with its tasks. */
  read(projectId: string, options?: RequestOptions): Promise<Project>;
  /** `create_project`: a project and its tasks; returns it as stored. */
  create(input: ProjectCreateInput, options?: RequestOptions): Promise<Project>;
  /** `delete_project`: the project and its tasks. */
  delete(projectId: string, options?: RequestOptions): Promise<{ projectId: string; deleted: true }>;
  /** `add_tasks_to_project`: tasks at the end of a project; returns the new tasks. */
  addTasks(projectId: string, tasks: NewProjectTask[], options?: RequestOptions): Promise<ProjectTask[]>;
  /** `finalize_project`: only when every task is done and approved. */
  finalize(projectId: string, options?: RequestOptions): Promise<Project>;
  /** `list_tasks`: tasks of one project or all, optionally by filter. */
  listTasks(
    filter?: { projectId?: string; state?: ProjectFilter },
    options?: RequestOptions,
  ): Promise<ProjectTask[]>;
  /** `read_task`: one task (ids are unique across projects; `projectId` only checks it). */
  readTask(taskId: string, projectId?: string, options?: RequestOptions): Promise<ProjectTask>;
  /** `create_task`: one task at the end of a project. */
  createTask(projectId: string, task: NewProjectTask, options?: RequestOptions): Promise<ProjectTask>;
  /** `update_task`: change a task under the state rules. */
  updateTask(
    projectId: string,
    taskId: string,
    fields: ProjectTaskUpdate,
    options?: RequestOptions,
  ): Promise<ProjectTask>;
  /** `delete_task`: remove a task that is not approved. */
  deleteTask(
    projectId: string,
    taskId: string,
    options?: RequestOptions,
  ): Promise<{ projectId: string; taskId: string; deleted: true }>;
  /** `approve_task`: approve a done task (a person's act: the token must be allowed to approve). */
  approveTask(projectId: string, taskId: string, options?: RequestOptions): Promise<ProjectTask>;
  /** `get_next_task`: the next task for this agent; with `claim: true`, claimed for it atomically. */
  nextTask(projectId: string, args?: { claim?: boolean }, options?: RequestOptions): Promise<NextTaskResult>;
  /** `claim_next_task`: claim the best ready task of one project, or of every project. */
  claimNext(args?: { projectId?: string }, options?: RequestOptions): Promise<NextTaskResult>;
}

/** How the projects API sends a request (the client's `request`). */
type Requester = <R, T extends MessageType>(
  type: T,
  fields: MessageFields<T>,
  options?: RequestOptions,
) => Promise<R>;

function defined<T extends Record<string, unknown>>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** Builds `client.projects` over a client's request function and the connection's actor. */
export function createProjectsApi(request: Requester, actor: ProjectActor): ProjectsApi {
  const who = defined({ agent: actor.agent });
  const claimer = defined({
    agent: actor.agent,
    capabilities: actor.capabilities === undefined ? undefined : [...actor.capabilities],
  });
  return {
    list: async (state, options) =>
      (
        await request<{ projects: ProjectSummary[] }, "projects.list">(
          "projects.list",
          defined({ state }),
          options,
        )
      ).projects,
    read: (projectId, options) => request<Project, "project.read">("project.read", { projectId }, options),
    create: (input, options) =>
      request<Project, "project.create">("project.create", { ...input, ...who }, options),
    delete: (projectId, options) =>
      request<{ projectId: string; deleted: true }, "project.delete">(
        "project.delete",
        { projectId, ...who },
        options,
      ),
    addTasks: async (projectId, tasks, options) =>
      (
        await request<{ projectId: string; tasks: ProjectTask[] }, "project.addTasks">(
          "project.addTasks",
          { projectId, tasks, ...who },
          options,
        )
      ).tasks,
    finalize: (projectId, options) =>
      request<Project, "project.finalize">("project.finalize", { projectId, ...who }, options),
    listTasks: async (filter = {}, options) =>
      (
        await request<{ tasks: ProjectTask[] }, "project.tasks.list">(
          "project.tasks.list",
          defined({ projectId: filter.projectId, state: filter.state }),
          options,
        )
      ).tasks,
    readTask: (taskId, projectId, options) =>
      request<ProjectTask, "project.task.read">("project.task.read", defined({ taskId, projectId }), options),
    createTask: (projectId, task, options) =>
      request<ProjectTask, "project.task.create">(
        "project.task.create",
        { projectId, task, ...who },
        options,
      ),
    updateTask: (projectId, taskId, fields, options) =>
      request<ProjectTask, "project.task.update">(
        "project.task.update",
        { projectId, taskId, update: fields, ...who },
        options,
      ),
    deleteTask: (projectId, taskId, options) =>
      request<{ projectId: string; taskId: string; deleted: true }, "project.task.delete">(
        "project.task.delete",
        { projectId, taskId, ...who },
        options,
      ),
    approveTask: (projectId, taskId, options) =>
      request<ProjectTask, "project.task.approve">(
        "project.task.approve",
        { projectId, taskId, ...who },
        options,
      ),
    nextTask: (projectId, args = {}, options) =>
      request<NextTaskResult, "project.task.next">(
        "project.task.next",
        defined({ projectId, claim: args.claim, ...claimer }),
        options,
      ),
    claimNext: (args = {}, options) =>
      request<NextTaskResult, "project.task.claim">(
        "project.task.claim",
        defined({ projectId: args.projectId, ...claimer }),
        options,
      ),
  };
}
