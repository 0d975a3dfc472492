/**
 * The fleet as tools: run a command and wait for it, submit one and come back later, read its state and
 * output, cancel it, list the nodes, and a one-call overview of the fleet. Command arguments are the
 * protocol's own task spec fields, so the tool schemas and the coordinator's checks agree.
 */
import type { FlotillaClient, TaskResult } from "@flotilla/client";
import { ExecTaskSpecSchema, IdSchema, type TaskSpecInput } from "@flotilla/protocol";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { ToolContext } from "./context.js";
import { answer } from "./results.js";

const spec = ExecTaskSpecSchema.shape;

/** The command fields of `run_command` and `submit_command`. */
const commandShape = {
  argv: spec.argv.describe("the program and its arguments, run without a shell; or give `shell`"),
  shell: spec.shell.describe("a command line for the node's shell (sh -c); or give `argv`"),
  cwd: spec.cwd.describe("working directory on the node (default: the agent's)"),
  env: spec.env.describe("extra environment variables"),
  needs: spec.needs.describe('capabilities or attributes the node must have, e.g. {"docker": true}'),
  priority: spec.priority.optional().describe("critical, high, normal (default) or low"),
  timeoutMs: spec.timeoutMs.describe("kill the command after this many ms"),
  node: spec.node.describe("run on this node only"),
};

type CommandArgs = z.infer<z.ZodObject<typeof commandShape>>;

/** Lines of output `run_command` and `command_output` return by default. */
const DEFAULT_TAIL_LINES = 50;
/** Output chunks read to find the last lines (a chunk holds one or more lines). */
const TAIL_CHUNKS = 1000;

const tailLines = z
  .int()
  .min(1)
  .max(5000)
  .optional()
  .describe(`lines of output to return (default ${DEFAULT_TAIL_LINES})`);

function toSpec(args: CommandArgs): TaskSpecInput {
  const spec: TaskSpecInput = { kind: "exec" };
  for (const [key, value] of Object.entries(args))
    if (value !== undefined) Object.assign(spec, { [key]: value });
  return spec;
}

/** The last `lines` lines of a task's stored output, stdout and stderr interleaved as they came. */
async function outputTail(client: FlotillaClient, taskId: string, lines: number): Promise<string> {
  const stored = await client.output(taskId, { tail: TAIL_CHUNKS });
  const text = stored.chunks.map((chunk) => chunk.data).join("");
  const all = text.endsWith("\n") ? text.slice(0, -1).split("\n") : text.split("\n");
  return all.slice(-lines).join("\n");
}

function outcome(taskId: string, result: TaskResult, output: string): Record<string, unknown> {
  const body: Record<string, unknown> = {
    taskId,
    finished: true,
    state: result.state,
    exitCode: result.exitCode,
  };
  if (result.signal) body.signal = result.signal;
  if (result.error) body.error = result.error;
  if (result.record.node) body.node = result.record.node;
  body.output = output;
  return body;
}

/** Resolves with the result, or undefined after `ms`. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Registers the fleet tools. */
export function registerFleetTools(server: McpServer, { client }: ToolContext): void {
  server.registerTool(
    "run_command",
    {
      description:
        "Run a command on the fleet (the coordinator picks a node that has what it needs) and wait up to waitSeconds: returns the exit code and the last lines of output, or the task id if it is still running (then use command_status / command_output).",
      inputSchema: {
        ...commandShape,
        waitSeconds: z
          .number()
          .min(0)
          .max(3600)
          .optional()
          .describe("how long to wait for the end (default 60)"),
        tailLines,
      },
    },
    ({ waitSeconds, tailLines: lines, ...command }) =>
      answer(async () => {
        const handle = await client.submit(toSpec(command), { wait: true });
        const result = await within(handle.result(), (waitSeconds ?? 60) * 1000);
        if (result === undefined) {
          const record = await client.task(handle.id);
          return {
            taskId: handle.id,
            finished: false,
            state: record.state,
            hint: "still running: call command_status or command_output with this taskId",
          };
        }
        return outcome(handle.id, result, await outputTail(client, handle.id, lines ?? DEFAULT_TAIL_LINES));
      }),
  );

  server.registerTool(
    "submit_command",
    {
      description: "Queue a command on the fleet without waiting; returns its task id.",
      inputSchema: commandShape,
    },
    (command) =>
      answer(async () => {
        const handle = await client.submit(toSpec(command), { wait: false });
        const record = await client.task(handle.id);
        return { taskId: handle.id, duplicate: handle.duplicate, state: record.state };
      }),
  );

  server.registerTool(
    "command_status",
    {
      description: "A command's state, node, exit code and timing.",
      inputSchema: { taskId: IdSchema.describe("the task id from run_command or submit_command") },
    },
    ({ taskId }) =>
      answer(async () => {
        const record = await client.task(taskId);
        const { spec: _spec, ...status } = record as typeof record & { spec?: unknown };
        return status;
      }),
  );

  server.registerTool(
    "command_output",
    {
      description:
        "A command's output so far: its last lines (tailLines), or every chunk from output sequence number fromSeq on (returns nextSeq to continue from).",
      inputSchema: {
        taskId: IdSchema.describe("the task id"),
        tailLines,
        fromSeq: z
          .int()
          .min(0)
          .optional()
          .describe("read chunks from this output seq on instead of the tail"),
      },
    },
    ({ taskId, tailLines: lines, fromSeq }) =>
      answer(async () => {
        if (fromSeq === undefined) {
          const record = await client.task(taskId);
          return {
            taskId,
            state: record.state,
            output: await outputTail(client, taskId, lines ?? DEFAULT_TAIL_LINES),
          };
        }
        const stored = await client.output(taskId, { fromSeq });
        return {
          taskId,
          state: stored.state,
          output: stored.chunks.map((chunk) => chunk.data).join(""),
          chunks: stored.chunks.length,
          nextSeq: stored.nextSeq,
        };
      }),
  );

  server.registerTool(
    "cancel_command",
    {
      description: "Cancel a command: the node stops its whole process group.",
      inputSchema: { taskId: IdSchema.describe("the task id"), reason: z.string().max(500).optional() },
    },
    ({ taskId, reason }) => answer(() => client.cancel(taskId, reason ?? "cancelled by an MCP client")),
  );

  server.registerTool(
    "list_nodes",
    { description: "The fleet's nodes: capabilities, labels, load, slots, health, queue." },
    () => answer(async () => ({ nodes: await client.nodes() })),
  );

  server.registerTool(
    "fleet_status",
    {
      description:
        "One look at the fleet: nodes by health, slots in use, queue depth (queued on nodes, waiting for a capable node, running), and the alerts firing now.",
    },
    () =>
      answer(async () => {
        const [nodes, waiting, alerts] = await Promise.all([
          client.nodes(),
          client.tasks({ state: "waiting", limit: 1000 }),
          client.alerts({ firingOnly: true }),
        ]);
        const healthy = nodes.filter((node) => node.health === "healthy");
        return {
          nodes: nodes.map((node) => ({
            id: node.id,
            health: node.health,
            status: node.status,
            draining: node.draining,
            slotsUsed: node.slotsUsed,
            slotsTotal: node.slotsTotal,
            queued: node.queued,
            load1: node.load1,
          })),
          healthyNodes: healthy.length,
          slotsUsed: nodes.reduce((sum, node) => sum + node.slotsUsed, 0),
          slotsTotal: healthy.reduce((sum, node) => sum + node.slotsTotal, 0),
          queueDepth: {
            queued: nodes.reduce((sum, node) => sum + node.queued, 0),
            waiting: waiting.length,
          },
          alerts: alerts.map(({ rule, subject, message, firedAt }) => ({ rule, subject, message, firedAt })),
        };
      }),
  );
}
