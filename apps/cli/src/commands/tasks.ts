import type { TaskUpdate } from "@flotilla/client";
import {
  FlotillaError,
  isTerminalState,
  SECRET_MASK,
  TASK_STATES,
  type TaskRecord,
  type TaskState,
} from "@flotilla/protocol";
import type { CommandContext, CommandSpec } from "../cli.js";
import { formatDuration } from "../duration.js";
import { EXIT } from "../exit-codes.js";
import { JSON_OPTION, json, shellQuote, table, truncate } from "../format.js";

/** The command a task runs, as a person would type it. */
export function commandOf(record: TaskRecord): string {
  const spec = record.spec;
  if (spec.kind === "call") return `call ${spec.handler}`;
  return spec.shell ?? shellQuote(spec.argv ?? []);
}

/**
 * A task's environment as `K=V` words, its secrets as `K=***` whatever the record holds (the
 * coordinator masks them already; this never prints one even from a record that did not).
 */
function envText(record: TaskRecord): string {
  const spec = record.spec;
  if (spec.kind !== "exec") return "";
  const words = Object.entries(spec.env ?? {}).map(([name, value]) => shellQuote([`${name}=${value}`]));
  for (const name of Object.keys(spec.secretEnv ?? {})) words.push(`${name}=${SECRET_MASK}`);
  return words.join(" ");
}

function exitText(record: TaskRecord): string {
  if (!("finishedAt" in record)) return "";
  if (record.signal) return record.signal;
  return record.exitCode === null || record.exitCode === undefined ? "" : String(record.exitCode);
}

/** `flotilla status ID`. */
export const statusCommand: CommandSpec = {
  name: "status",
  summary: "show one task: state, node, attempts, exit code, why it waits",
  usage: "flotilla status [--json] ID",
  options: JSON_OPTION,
  args: { min: 1, max: 1 },
  examples: ["flotilla status t-42", "flotilla status --json t-42 | jq .state"],
  async run(context) {
    const client = await context.client();
    const record = await client.task(context.args[0] ?? "");
    if (context.json) {
      context.out(json(record));
      return EXIT.OK;
    }
    const now = context.now();
    const lines: [string, string][] = [
      ["task", record.id],
      ["state", record.state],
      ["command", commandOf(record)],
      ["node", record.node ?? "-"],
      ["attempt", String(record.attempt)],
      ["priority", record.spec.priority],
      ["created", `${formatDuration(now - record.createdAt)} ago`],
    ];
    const env = envText(record);
    if (env !== "") lines.push(["env", env]);
    if (record.state === "waiting") lines.push(["waiting", record.waitingReason]);
    if (record.startedAt !== undefined)
      lines.push(["started", `${formatDuration(now - record.startedAt)} ago`]);
    if ("finishedAt" in record) {
      lines.push(["exit", exitText(record) || "-"]);
      if (record.durationMs !== undefined) lines.push(["duration", formatDuration(record.durationMs)]);
      if (record.error) lines.push(["error", `${record.error.code}: ${record.error.message}`]);
    }
    for (const attempt of record.attempts ?? []) {
      lines.push([`attempt ${attempt.attempt}`, `${attempt.node}: ${attempt.reason}`]);
    }
    const width = Math.max(...lines.map(([key]) => key.length));
    context.out(lines.map(([key, value]) => `${key.padEnd(width)}  ${value}\n`).join(""));
    return EXIT.OK;
  },
};

/** `flotilla ps`. */
export const psCommand: CommandSpec = {
  name: "ps",
  summary: "list tasks, newest first",
  usage: "flotilla ps [--state S] [--node N] [--limit N] [--json]",
  options: {
    state: {
      type: "string",
      value: "S",
      description: `only tasks in this state (${TASK_STATES.join(", ")})`,
    },
    node: { type: "string", value: "N", description: "only tasks on this node" },
    limit: { type: "string", value: "N", description: "at most N tasks (default 50)" },
    ...JSON_OPTION,
  },
  args: { min: 0, max: 0 },
  examples: ["flotilla ps", "flotilla ps --state running --node mac-studio"],
  async run(context) {
    const { state, node, limit } = context.values;
    const filter: { state?: TaskState; node?: string; limit: number } = { limit: 50 };
    if (typeof state === "string") {
      if (!(TASK_STATES as readonly string[]).includes(state)) {
        throw new FlotillaError(
          "E_INVALID_ARGUMENT",
          `--state ${JSON.stringify(state)} is not a task state — use one of ${TASK_STATES.join(", ")}`,
        );
      }
      filter.state = state as TaskState;
    }
    if (typeof node === "string") filter.node = node;
    if (typeof limit === "string") {
      const count = Number(limit);
      if (!Number.isInteger(count) || count < 1 || count > 1000) {
        throw new FlotillaError(
          "E_INVALID_ARGUMENT",
          `--limit ${JSON.stringify(limit)} — give a number from 1 to 1000`,
        );
      }
      filter.limit = count;
    }
    const client = await context.client();
    const tasks = await client.tasks(filter);
    if (context.json) {
      context.out(json(tasks));
      return EXIT.OK;
    }
    const now = context.now();
    context.out(
      table(
        ["ID", "STATE", "NODE", "AGE", "EXIT", "COMMAND"],
        tasks.map((task) => [
          task.id,
          task.state,
          task.node ?? "-",
          formatDuration(now - task.createdAt),
          exitText(task),
          truncate(commandOf(task), 60),
        ]),
      ),
    );
    return EXIT.OK;
  },
};

/** How long `logs` without `-f` waits for more output from a running task before it stops. */
const LOGS_QUIET_MS = 300;

/** `flotilla logs`. */
export const logsCommand: CommandSpec = {
  name: "logs",
  summary: "print a task's output; -f follows it live, across reconnects",
  usage: "flotilla logs [-f] [--from-seq N] ID",
  options: {
    follow: { type: "boolean", short: "f", description: "keep following until the task ends" },
    "from-seq": { type: "string", value: "N", description: "start at output chunk N (default 0)" },
  },
  args: { min: 1, max: 1 },
  details: `Without -f, prints the output so far and stops. With -f, a dropped connection or a coordinator
restart is survived: output resumes from the last chunk seen, none missed and none twice.`,
  examples: ["flotilla logs t-42", "flotilla logs -f t-42"],
  async run(context) {
    const taskId = context.args[0] ?? "";
    const fromText = context.values["from-seq"];
    const fromSeq = typeof fromText === "string" ? Number(fromText) : 0;
    if (!Number.isInteger(fromSeq) || fromSeq < 0) {
      throw new FlotillaError(
        "E_INVALID_ARGUMENT",
        `--from-seq ${JSON.stringify(fromText)} — give a whole number`,
      );
    }
    const client = await context.client();
    const record = await client.task(taskId);
    const follow = context.values.follow === true || isTerminalState(record.state);
    const updates = client.watch(taskId, { fromSeq }).updates()[Symbol.asyncIterator]();
    let quiet: NodeJS.Timeout | undefined;
    const stopWhenQuiet = () => {
      if (follow) return;
      clearTimeout(quiet);
      quiet = setTimeout(() => void updates.return?.(), LOGS_QUIET_MS);
    };
    const stopListening = context.onInterrupt(() => void updates.return?.());
    stopWhenQuiet();
    try {
      for (let next = await updates.next(); !next.done; next = await updates.next()) {
        printOutput(context, next.value);
        stopWhenQuiet();
      }
    } finally {
      clearTimeout(quiet);
      stopListening();
      await updates.return?.();
    }
    return EXIT.OK;
  },
};

function printOutput(context: CommandContext, update: TaskUpdate): void {
  if (update.kind !== "output") return;
  (update.chunk.stream === "stderr" ? context.io.stderr : context.io.stdout).write(update.chunk.data);
}

/** `flotilla cancel ID`. */
export const cancelCommand: CommandSpec = {
  name: "cancel",
  summary: "cancel a task (the node stops its whole process group)",
  usage: "flotilla cancel ID",
  options: {},
  args: { min: 1, max: 1 },
  examples: ["flotilla cancel t-42"],
  async run(context) {
    const taskId = context.args[0] ?? "";
    const client = await context.client();
    await client.cancel(taskId, "cancelled from the command line");
    context.out(`cancelling ${taskId}\n`);
    return EXIT.OK;
  },
};
