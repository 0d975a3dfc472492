/**
 * The project requests of clients (`projects.list`, `project.*`): who acts, then one read or one script
 * of `ProjectStore`, and the reply's shape. The actor is the token's name, or `<token name>/<agent>` when
 * the connection names its agent, so no token can act as another's agents. Which scopes may send which
 * request is in `access.ts`; approval is admin-only there, as it is a person's act.
 */
import type {
  MessageOf,
  NewProjectTask,
  PROJECT_MESSAGE_SCHEMAS,
  Project,
  ProjectTask,
} from "@flotilla/protocol";
import type { Principal } from "../auth.js";
import type { CoordinatorContext, CoordinatorParts } from "../context.js";
import { normalizeTask, ProjectStore } from "./project-store.js";
import { ProjectUpkeep } from "./project-upkeep.js";

/** What `project.task.next` and `project.task.claim` answer. */
export interface NextTaskAnswer {
  task: ProjectTask | null;
  message?: string;
}

/** A project request, discriminated on `type`. */
export type ProjectRequest = MessageOf<keyof typeof PROJECT_MESSAGE_SCHEMAS>;

/** The name a change is recorded under (a claim's holder, an event's `agent`). */
export function actorOf(principal: Principal, agent: string | undefined): string {
  return agent === undefined ? principal.name : `${principal.name}/${agent}`;
}

/** The project requests. */
export class ProjectOps {
  readonly store: ProjectStore;
  /** The projects' share of the housekeeping sweep. */
  readonly upkeep: ProjectUpkeep;

  constructor(ctx: CoordinatorContext, parts: Pick<CoordinatorParts, "submit">) {
    this.store = new ProjectStore(ctx);
    this.upkeep = new ProjectUpkeep(ctx, parts, this.store);
  }

  /** Answers one project request (the reply's `result`). */
  async handle(frame: ProjectRequest, principal: Principal): Promise<unknown> {
    switch (frame.type) {
      case "projects.list":
        return await this.list(frame);
      case "project.read":
        return await this.read(frame);
      case "project.create":
        return await this.create(frame, principal);
      case "project.delete":
        return await this.delete(frame, principal);
      case "project.addTasks":
        return await this.addTasks(frame, principal);
      case "project.finalize":
        return await this.finalize(frame, principal);
      case "project.tasks.list":
        return await this.listTasks(frame);
      case "project.task.read":
        return await this.readTask(frame);
      case "project.task.create":
        return await this.createTask(frame, principal);
      case "project.task.update":
        return await this.updateTask(frame, principal);
      case "project.task.delete":
        return await this.deleteTask(frame, principal);
      case "project.task.approve":
        return await this.approveTask(frame, principal);
      case "project.task.next":
        return await this.nextTask(frame, principal);
      case "project.task.claim":
        return await this.claimNext(frame, principal);
    }
  }

  async list(frame: MessageOf<"projects.list">): Promise<unknown> {
    return { projects: await this.store.summaries(frame.state) };
  }

  async read(frame: MessageOf<"project.read">): Promise<Project> {
    return await this.store.project(frame.projectId);
  }

  async create(frame: MessageOf<"project.create">, principal: Principal): Promise<Project> {
    const payload: Record<string, unknown> = { initialPrompt: frame.initialPrompt, tasks: frame.tasks };
    if (frame.projectPlan !== undefined) payload.projectPlan = frame.projectPlan;
    if (frame.autoApprove !== undefined) payload.autoApprove = frame.autoApprove;
    const created = await this.store.change<{ project: Project & { taskIds?: string[] }; tasks: unknown }>(
      "project-create-10",
      actorOf(principal, frame.agent),
      payload,
    );
    return await this.store.project(created.project.projectId);
  }

  async delete(frame: MessageOf<"project.delete">, principal: Principal): Promise<unknown> {
    await this.store.change("project-delete-10", actorOf(principal, frame.agent), {
      projectId: frame.projectId,
    });
    return { projectId: frame.projectId, deleted: true };
  }

  async addTasks(frame: MessageOf<"project.addTasks">, principal: Principal): Promise<unknown> {
    const tasks = await this.add(frame.projectId, frame.tasks, actorOf(principal, frame.agent));
    return { projectId: frame.projectId, tasks };
  }

  async finalize(frame: MessageOf<"project.finalize">, principal: Principal): Promise<Project> {
    await this.store.change("project-finalize-10", actorOf(principal, frame.agent), {
      projectId: frame.projectId,
    });
    return await this.store.project(frame.projectId);
  }

  async listTasks(frame: MessageOf<"project.tasks.list">): Promise<unknown> {
    return { tasks: await this.store.listTasks(frame.projectId, frame.state) };
  }

  async readTask(frame: MessageOf<"project.task.read">): Promise<ProjectTask> {
    return await this.store.task(frame.taskId, frame.projectId);
  }

  async createTask(frame: MessageOf<"project.task.create">, principal: Principal): Promise<ProjectTask> {
    const [task] = await this.add(frame.projectId, [frame.task], actorOf(principal, frame.agent));
    return task as ProjectTask;
  }

  async updateTask(frame: MessageOf<"project.task.update">, principal: Principal): Promise<ProjectTask> {
    return normalizeTask(
      await this.store.change("project-update-10", actorOf(principal, frame.agent), {
        projectId: frame.projectId,
        taskId: frame.taskId,
        update: frame.update,
      }),
    );
  }

  async deleteTask(frame: MessageOf<"project.task.delete">, principal: Principal): Promise<unknown> {
    await this.store.change("project-delete-10", actorOf(principal, frame.agent), {
      projectId: frame.projectId,
      taskId: frame.taskId,
    });
    return { projectId: frame.projectId, taskId: frame.taskId, deleted: true };
  }

  async approveTask(frame: MessageOf<"project.task.approve">, principal: Principal): Promise<ProjectTask> {
    return normalizeTask(
      await this.store.change("project-approve-10", actorOf(principal, frame.agent), {
        projectId: frame.projectId,
        taskId: frame.taskId,
      }),
    );
  }

  async nextTask(frame: MessageOf<"project.task.next">, principal: Principal): Promise<NextTaskAnswer> {
    return await this.next(actorOf(principal, frame.agent), {
      projectId: frame.projectId,
      capabilities: frame.capabilities ?? [],
      peek: frame.claim !== true,
    });
  }

  async claimNext(frame: MessageOf<"project.task.claim">, principal: Principal): Promise<NextTaskAnswer> {
    const payload: Record<string, unknown> = { capabilities: frame.capabilities ?? [], peek: false };
    if (frame.projectId !== undefined) payload.projectId = frame.projectId;
    return await this.next(actorOf(principal, frame.agent), payload);
  }

  private async next(actor: string, payload: Record<string, unknown>): Promise<NextTaskAnswer> {
    const answer = await this.store.change<{ task?: unknown; message?: string }>(
      "project-claim-10",
      actor,
      payload,
    );
    const task = answer.task === undefined ? null : normalizeTask(answer.task);
    return answer.message === undefined ? { task } : { task, message: answer.message };
  }

  private async add(projectId: string, tasks: NewProjectTask[], actor: string): Promise<ProjectTask[]> {
    const added = await this.store.change<{ tasks: unknown[] | Record<string, never> }>(
      "project-add-10",
      actor,
      { projectId, tasks },
    );
    return Array.isArray(added.tasks) ? added.tasks.map(normalizeTask) : [];
  }
}
