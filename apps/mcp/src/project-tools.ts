/**
 * Project task lists as tools, with the names and arguments of the widely used task-queue MCP server
 * (`list_projects` … `get_next_task`), so prompts written for it keep working; plus what Flotilla adds:
 * `priority`, `after`, `needs` and `run` on tasks, `claim` on `get_next_task`, and `claim_next_task`.
 * `approve_task` is registered only when the token may approve (approval is a person's act). The
 * argument schemas are the protocol's project schemas.
 */

import type { FlotillaClient } from "@flotilla/client";
import {
  FlotillaError,
  NewProjectTaskSchema,
  ProjectCreateInputSchema,
  ProjectFilterSchema,
  ProjectIdSchema,
  ProjectTaskIdSchema,
  ProjectTaskUpdateSchema,
} from "@flotilla/protocol";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { ToolContext } from "./context.js";
import { answer } from "./results.js";

const projectId = ProjectIdSchema.describe("the project's id, e.g. proj-1");
const taskId = ProjectTaskIdSchema.describe("the task's id, e.g. task-1");
const state = ProjectFilterSchema.optional().describe(
  "open (any task not done), pending_approval (done, not approved), completed (all done and approved), or all",
);
const update = ProjectTaskUpdateSchema.shape;

/** Registers the project tools; `approve_task` only when `canApprove`. */
export function registerProjectTools(server: McpServer, { client, canApprove }: ToolContext): void {
  const projects = client.projects;
  server.registerTool(
    "list_projects",
    { description: "List projects with their task counts, optionally by state.", inputSchema: { state } },
    ({ state: filter }) => answer(async () => ({ projects: await projects.list(filter) })),
  );
  server.registerTool(
    "read_project",
    { description: "A project with all its tasks and their statuses.", inputSchema: { projectId } },
    ({ projectId: id }) => answer(() => projects.read(id)),
  );
  server.registerTool(
    "create_project",
    {
      description:
        "Create a project from an initial prompt and a list of tasks (title, description, tool and rule recommendations; Flotilla adds priority, after, needs and run). Usually the first step.",
      inputSchema: ProjectCreateInputSchema.shape,
    },
    (input) => answer(() => projects.create(input)),
  );
  server.registerTool(
    "delete_project",
    { description: "Delete a project and its tasks.", inputSchema: { projectId } },
    ({ projectId: id }) => answer(() => projects.delete(id)),
  );
  server.registerTool(
    "add_tasks_to_project",
    {
      description: "Add tasks at the end of a project.",
      inputSchema: { projectId, tasks: z.array(NewProjectTaskSchema).min(1) },
    },
    ({ projectId: id, tasks }) =>
      answer(async () => ({ projectId: id, tasks: await projects.addTasks(id, tasks) })),
  );
  server.registerTool(
    "finalize_project",
    {
      description:
        "Mark a project complete: only once every task is done and approved. Usually the last step.",
      inputSchema: { projectId },
    },
    ({ projectId: id }) => answer(() => projects.finalize(id)),
  );
  server.registerTool(
    "list_tasks",
    {
      description: "List tasks, of one project or of all, optionally by state.",
      inputSchema: { projectId: projectId.optional(), state },
    },
    ({ projectId: id, state: filter }) =>
      answer(async () => {
        const query: { projectId?: string; state?: z.infer<typeof ProjectFilterSchema> } = {};
        if (id !== undefined) query.projectId = id;
        if (filter !== undefined) query.state = filter;
        return { tasks: await projects.listTasks(query) };
      }),
  );
  server.registerTool(
    "read_task",
    { description: "One task, with its tool and rule recommendations.", inputSchema: { taskId } },
    ({ taskId: id }) => answer(() => projects.readTask(id)),
  );
  server.registerTool(
    "create_task",
    {
      description: "Add one task at the end of a project.",
      inputSchema: { projectId, ...NewProjectTaskSchema.shape },
    },
    ({ projectId: id, ...task }) => answer(() => projects.createTask(id, task)),
  );
  server.registerTool(
    "update_task",
    {
      description:
        "Change a task. completedDetails is required to set status done; an approved task cannot change; status moves not started → in progress → done, or back to not started to give the work back (details starting FAILED: report a failure). Any update from the claim's holder renews its lease.",
      inputSchema: {
        projectId,
        taskId,
        title: update.title,
        description: update.description,
        status: update.status,
        completedDetails: update.completedDetails,
        toolRecommendations: update.toolRecommendations,
        ruleRecommendations: update.ruleRecommendations,
        priority: update.priority,
        after: update.after,
        needs: update.needs,
      },
    },
    ({ projectId: id, taskId: task, ...fields }) =>
      answer(() => projects.updateTask(id, task, dropUndefined(fields))),
  );
  server.registerTool(
    "delete_task",
    { description: "Remove a task that is not approved.", inputSchema: { projectId, taskId } },
    ({ projectId: id, taskId: task }) => answer(() => projects.deleteTask(id, task)),
  );
  if (canApprove) {
    server.registerTool(
      "approve_task",
      {
        description: "Approve a task that is done (a person's decision).",
        inputSchema: { projectId, taskId },
      },
      ({ projectId: id, taskId: task }) => answer(() => projects.approveTask(id, task)),
    );
  }
  server.registerTool(
    "get_next_task",
    {
      description:
        "The next task of a project for this agent (dependencies done, needs matched, highest priority first); with claim: true it is claimed for this agent atomically, so no other agent gets it.",
      inputSchema: {
        projectId,
        claim: z.boolean().optional().describe("claim it for this agent (default false)"),
      },
    },
    ({ projectId: id, claim }) => answer(() => projects.nextTask(id, claim === undefined ? {} : { claim })),
  );
  server.registerTool(
    "claim_next_task",
    {
      description:
        "Claim the best ready task of one project, or of every project, for this agent: atomic, leased (given back if this agent goes away), renewed by any update.",
      inputSchema: { projectId: projectId.optional() },
    },
    ({ projectId: id }) => answer(() => projects.claimNext(id === undefined ? {} : { projectId: id })),
  );
}

function dropUndefined<T extends Record<string, unknown>>(
  value: T,
): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}

/**
 * Whether `client`'s token may approve project tasks, asked without changing anything: an approval of a
 * task that cannot exist is refused with `E_FORBIDDEN` before it is looked up when the token may not.
 */
export async function mayApprove(client: FlotillaClient): Promise<boolean> {
  try {
    await client.projects.approveTask("proj-9999999999999999", "task-9999999999999999");
    return true;
  } catch (error) {
    return !(error instanceof FlotillaError && error.code === "E_FORBIDDEN");
  }
}
