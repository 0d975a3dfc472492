/**
 * Projects in Redis: every change is one Lua script (`lua/project-*-10.lua` with `lua/project-lib.lua` in
 * front), run in the store's fenced batch; reads are plain hash reads. This module owns the script
 * arguments, the decoding of what Redis holds into `Project` / `ProjectTask`, and the refusals: a script's
 * `{error}` answer becomes a `FlotillaError` whose message ends with a hint and whose `details.rule` names
 * the rule (the rules themselves live in the scripts, next to the writes they guard).
 */
import {
  type ErrorCode,
  FlotillaError,
  isErrorCode,
  type Project,
  type ProjectFilter,
  type ProjectSummary,
  type ProjectTask,
} from "@flotilla/protocol";
import type { CoordinatorContext } from "../context.js";
import type { ScriptName } from "../scripts.js";

/** A project as its hash field holds it: its own fields and its task ids in order. */
interface StoredProject extends Omit<Project, "tasks"> {
  taskIds: string[];
}

/** What each refused rule's error adds: what to do about it. */
const HINTS: Record<string, string> = {
  "no-project": "list_projects shows the projects there are",
  "no-task": "list_tasks with the projectId shows its tasks",
  finalized: "a finalized project is closed; create a new project for more work",
  "approved-frozen": "an approved task is final; add a new task for more work",
  claimed: "wait for its holder to finish or give it back (status not started), or for the claim to lapse",
  "forward-only": "status moves not started → in progress → done; set not started to give a task back",
  "completed-details": "pass completedDetails saying what was done, with status done",
  "after-not-done": "finish the tasks it is after first (get_next_task gives a ready one)",
  "unknown-dep": "after names tasks of the same project (task-N), or #n for the n-th task of the same call",
  cycle: "drop one of the dependencies so that no task is (indirectly) after itself",
  "not-done": "the task's holder sets status done with completedDetails first",
  "already-approved": "nothing to do",
  "not-all-done": "list_tasks with state open shows the tasks not done",
  "not-all-approved": "list_tasks with state pending_approval shows the tasks to approve",
};

/** The project scripts. */
type ProjectScript = Extract<ScriptName, `project-${string}`>;

/** A list read from Redis: cjson writes an empty list as `{}`. */
function list(value: unknown): string[] {
  return Array.isArray(value) ? (value as string[]) : [];
}

/** A project task as Redis holds it (with the run count and when it became ready). */
export type StoredProjectTask = ProjectTask & { runs?: number; readyAt?: number };

/** A project task as Redis holds it, with its lists made lists again. */
export function decodeTask(raw: string): StoredProjectTask {
  return normalizeTask(JSON.parse(raw));
}

/** A project task decoded from a script's answer, with its lists made lists again. */
export function normalizeTask(value: unknown): StoredProjectTask {
  const task = value as StoredProjectTask & { readyKey?: string };
  // The task's member of the ready index is the scripts' business.
  delete task.readyKey;
  task.after = list(task.after);
  task.needs = list(task.needs);
  if (task.run) {
    if (task.run.needs !== undefined) task.run.needs = list(task.run.needs);
  }
  return task;
}

function decodeProject(raw: string): StoredProject {
  const project = JSON.parse(raw) as StoredProject;
  project.taskIds = list(project.taskIds);
  return project;
}

function withTasks(project: StoredProject, tasks: ProjectTask[]): Project {
  const { taskIds: _ids, ...fields } = project;
  return { ...fields, tasks };
}

/** The refusal a script answered. */
function refusal(error: { code: string; message: string; rule: string }): FlotillaError {
  const code: ErrorCode = isErrorCode(error.code) ? error.code : "E_INTERNAL";
  const hint = HINTS[error.rule];
  const message = hint === undefined ? error.message : `${error.message} — ${hint}`;
  const details: Record<string, unknown> = { rule: error.rule };
  if (hint !== undefined) details.hint = hint;
  return new FlotillaError(code, message, { details });
}

/** Whether a project passes a list filter (as the task-queue MCP server means it). */
function projectMatches(project: Project, filter: ProjectFilter): boolean {
  if (filter === "open") return !project.completed;
  if (filter === "completed") return project.completed;
  if (filter === "pending_approval")
    return !project.completed && project.tasks.every((task) => task.status === "done");
  return true;
}

/** Whether a task passes a list filter. */
function taskMatches(task: ProjectTask, filter: ProjectFilter): boolean {
  if (filter === "open") return task.status !== "done";
  if (filter === "pending_approval") return task.status === "done" && !task.approved;
  if (filter === "completed") return task.status === "done" && task.approved;
  return true;
}

function byNumber(a: string, b: string): number {
  return Number(a.slice(a.indexOf("-") + 1)) - Number(b.slice(b.indexOf("-") + 1));
}

/** The changes of a whole project, and the status their update gives when no task's update was published. */
const PROJECT_LEVEL: Partial<Record<ProjectScript, string>> = {
  "project-create-10": "created",
  "project-delete-10": "deleted",
  "project-finalize-10": "finalized",
};

/** Reads and changes projects in Redis. */
export class ProjectStore {
  constructor(private readonly ctx: CoordinatorContext) {}

  /** Runs one change: `actor` is who acts ("" for the coordinator's own sweeps). */
  async change<T>(script: ProjectScript, actor: string, payload: Record<string, unknown>): Promise<T> {
    const ctx = this.ctx;
    const keys = ctx.keys.redis;
    const raw = await ctx.db.projectScript(
      script,
      [
        keys.projects,
        keys.projectTasks,
        keys.projectClaims,
        keys.projectRunsReady,
        keys.projectSeq,
        keys.projectTaskSeq,
        keys.taskDistribution,
        keys.projectRuns,
        keys.taskFailures,
        keys.projectReady,
      ],
      [
        ctx.options.clock(),
        keys.taskUpdates,
        actor,
        ctx.options.projectClaimLeaseMs,
        JSON.stringify(payload),
      ],
    );
    const answer = JSON.parse(raw) as {
      ok?: T;
      updates?: string[];
      error?: { code: string; message: string; rule: string };
    };
    if (answer.error) throw refusal(answer.error);
    this.#announce(script, actor, payload, answer.ok, answer.updates ?? []);
    return answer.ok as T;
  }

  /**
   * Passes a change on to the connections that watch the fleet's events, as a `broadcast` frame whose
   * message is `project.updated`: each update the script published on `events:tasks:updates`, or, for a
   * change of a whole project that published none (finalized; created or deleted without tasks), one
   * update naming the project.
   */
  #announce(
    script: ProjectScript,
    actor: string,
    payload: Record<string, unknown>,
    ok: unknown,
    updates: string[],
  ) {
    const ctx = this.ctx;
    const status = PROJECT_LEVEL[script];
    const projectId =
      payload.projectId ?? (ok as { project?: { projectId?: unknown } } | undefined)?.project?.projectId;
    const wholeProject =
      updates.length === 0 && status !== undefined && typeof projectId === "string"
        ? [JSON.stringify({ projectId, status, agent: actor === "" ? null : actor })]
        : [];
    const timestamp = new Date(ctx.options.clock()).toISOString();
    for (const update of [...updates, ...wholeProject]) {
      ctx.fanout.fleetEvent(() =>
        ctx.frames.frame("broadcast", {
          message: "project.updated",
          data: {
            from: "coordinator",
            type: "project.updated",
            timestamp,
            ...(JSON.parse(update) as object),
          },
        }),
      );
    }
  }

  /** One project with its tasks in order. */
  async project(projectId: string): Promise<Project> {
    const raw = await this.ctx.redisClient.hget(this.ctx.keys.redis.projects, projectId);
    if (raw === null)
      throw refusal({ code: "E_NOT_FOUND", message: `no project ${projectId}`, rule: "no-project" });
    const project = decodeProject(raw);
    return withTasks(project, await this.tasks(project.taskIds));
  }

  /** Projects with their tasks, oldest first. */
  async projects(): Promise<Project[]> {
    const redis = this.ctx.redisClient;
    const keys = this.ctx.keys.redis;
    const [all, tasks] = await Promise.all([redis.hgetall(keys.projects), redis.hgetall(keys.projectTasks)]);
    return Object.keys(all)
      .sort(byNumber)
      .map((id) => {
        const project = decodeProject(all[id] as string);
        const own = project.taskIds.flatMap((taskId) => {
          const raw = tasks[taskId];
          return raw === undefined ? [] : [decodeTask(raw)];
        });
        return withTasks(project, own);
      });
  }

  /** Project summaries as `list_projects` gives them. */
  async summaries(filter: ProjectFilter = "all"): Promise<ProjectSummary[]> {
    return (await this.projects())
      .filter((project) => projectMatches(project, filter))
      .map((project) => ({
        projectId: project.projectId,
        initialPrompt: project.initialPrompt,
        totalTasks: project.tasks.length,
        completedTasks: project.tasks.filter((task) => task.status === "done").length,
        approvedTasks: project.tasks.filter((task) => task.approved).length,
        completed: project.completed,
      }));
  }

  /** Tasks of one project or of all, by filter. */
  async listTasks(projectId: string | undefined, filter: ProjectFilter = "all"): Promise<ProjectTask[]> {
    const tasks =
      projectId === undefined
        ? (await this.projects()).flatMap((project) => project.tasks)
        : (await this.project(projectId)).tasks;
    return tasks.filter((task) => taskMatches(task, filter));
  }

  /** One task; with `projectId`, it must belong to that project. */
  async task(taskId: string, projectId?: string): Promise<ProjectTask> {
    const [task] = await this.tasks([taskId]);
    if (task === undefined || (projectId !== undefined && task.projectId !== projectId)) {
      const where = projectId === undefined ? "" : ` in project ${projectId}`;
      throw refusal({ code: "E_NOT_FOUND", message: `no task ${taskId}${where}`, rule: "no-task" });
    }
    return task;
  }

  private async tasks(ids: readonly string[]): Promise<ProjectTask[]> {
    if (ids.length === 0) return [];
    const raws = await this.ctx.redisClient.hmget(this.ctx.keys.redis.projectTasks, ...ids);
    return raws.flatMap((raw) => (raw === null ? [] : [decodeTask(raw)]));
  }
}
