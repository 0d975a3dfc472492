import { FlotillaError, PROJECT_FILTERS, type Project, type ProjectFilter } from "@flotilla/protocol";
import type { CommandSpec } from "../cli.js";
import { EXIT } from "../exit-codes.js";
import { json, table, truncate } from "../format.js";

const ACTIONS = ["ls", "show", "approve", "finalize"] as const;
type Action = (typeof ACTIONS)[number];

/** How many ids each action takes after it. */
const IDS: Record<Action, number> = { ls: 0, show: 1, approve: 2, finalize: 1 };
const WANTS: Record<Action, string> = {
  ls: "",
  show: "a project id",
  approve: "a project id and a task id",
  finalize: "a project id",
};

/** A project's tasks as a table. */
function showProject(project: Project): string {
  const head = [
    `${project.projectId}${project.completed ? " (finalized)" : ""}${project.autoApprove ? " autoApprove" : ""}`,
    `prompt: ${truncate(project.initialPrompt, 200)}`,
  ];
  if (project.projectPlan !== project.initialPrompt) head.push(`plan: ${truncate(project.projectPlan, 200)}`);
  const rows = project.tasks.map((task) => [
    task.id,
    task.status,
    task.approved ? "yes" : "no",
    task.priority,
    task.assignee ?? "",
    task.after.join(","),
    truncate(task.title, 50),
  ]);
  return `${head.join("\n")}\n\n${table(["TASK", "STATUS", "APPROVED", "PRIORITY", "ASSIGNEE", "AFTER", "TITLE"], rows)}`;
}

/** `flotilla projects ls|show|approve|finalize`. */
export const projectsCommand: CommandSpec = {
  name: "projects",
  summary: "agents' shared task lists: ls, show PROJ, approve PROJ TASK, finalize PROJ",
  usage: "flotilla projects ls [--state S] [--json] | show PROJ [--json] | approve PROJ TASK | finalize PROJ",
  options: {
    json: { type: "boolean", description: "print JSON" },
    state: {
      type: "string",
      value: "S",
      description: `with ls: ${PROJECT_FILTERS.join(", ")} (default all)`,
    },
  },
  args: { min: 1, max: 3 },
  details:
    "Projects are the task lists the fleet's AI agents share (see the README, 'For AI agents'). Approving a task is a person's act: it needs an admin token.",
  examples: [
    "flotilla projects ls --state pending_approval",
    "flotilla projects show proj-1",
    "flotilla projects approve proj-1 task-3",
    "flotilla projects finalize proj-1",
  ],
  async run(context) {
    const [action, ...ids] = context.args;
    if (!(ACTIONS as readonly (string | undefined)[]).includes(action)) {
      throw new FlotillaError(
        "E_UNKNOWN_COMMAND",
        `unknown projects action ${JSON.stringify(action)} — use one of ${ACTIONS.join(", ")}`,
      );
    }
    const verb = action as Action;
    if (ids.length !== IDS[verb]) {
      throw new FlotillaError(
        "E_INVALID_ARGUMENT",
        IDS[verb] === 0
          ? `projects ${verb} takes no ids`
          : `projects ${verb} needs ${WANTS[verb]} — see \`flotilla projects ls\``,
      );
    }
    const state = context.values.state;
    if (state !== undefined && !(PROJECT_FILTERS as readonly unknown[]).includes(state)) {
      throw new FlotillaError(
        "E_INVALID_ARGUMENT",
        `--state must be one of ${PROJECT_FILTERS.join(", ")}, not ${JSON.stringify(state)}`,
      );
    }
    const client = await context.client();
    const [projectId = "", taskId = ""] = ids;
    if (verb === "ls") {
      const projects = await client.projects.list(state as ProjectFilter | undefined);
      if (context.json) {
        context.out(json(projects));
        return EXIT.OK;
      }
      context.out(
        table(
          ["PROJECT", "TASKS", "DONE", "APPROVED", "FINALIZED", "PROMPT"],
          projects.map((project) => [
            project.projectId,
            String(project.totalTasks),
            String(project.completedTasks),
            String(project.approvedTasks),
            project.completed ? "yes" : "no",
            truncate(project.initialPrompt, 60),
          ]),
        ),
      );
      return EXIT.OK;
    }
    if (verb === "show") {
      const project = await client.projects.read(projectId);
      context.out(context.json ? json(project) : showProject(project));
      return EXIT.OK;
    }
    if (verb === "approve") {
      const task = await client.projects.approveTask(projectId, taskId);
      context.out(context.json ? json(task) : `${taskId} approved\n`);
      return EXIT.OK;
    }
    const project = await client.projects.finalize(projectId);
    context.out(context.json ? json(project) : `${projectId} finalized\n`);
    return EXIT.OK;
  },
};
