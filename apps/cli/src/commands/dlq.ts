import { FlotillaError } from "@flotilla/protocol";
import type { CommandSpec } from "../cli.js";
import { formatDuration } from "../duration.js";
import { EXIT } from "../exit-codes.js";
import { json, table, truncate } from "../format.js";

const ACTIONS = ["ls", "show", "retry", "purge"] as const;

/** `flotilla dlq ls|show|retry|purge`. */
export const dlqCommand: CommandSpec = {
  name: "dlq",
  summary: "dead-lettered tasks: ls, show ID, retry ID, purge ID|--all",
  usage: "flotilla dlq ls [--json] | show ID | retry ID | purge (ID | --all)",
  options: {
    json: { type: "boolean", description: "print JSON" },
    all: { type: "boolean", description: "with purge: drop every entry" },
  },
  args: { min: 1, max: 2 },
  details: "A task is dead-lettered after its last attempt fails on a node fault; retry queues it again.",
  examples: [
    "flotilla dlq ls",
    "flotilla dlq show t-42",
    "flotilla dlq retry t-42",
    "flotilla dlq purge --all",
  ],
  async run(context) {
    const [action, taskId] = context.args;
    if (!(ACTIONS as readonly (string | undefined)[]).includes(action)) {
      throw new FlotillaError(
        "E_UNKNOWN_COMMAND",
        `unknown dlq action ${JSON.stringify(action)} — use one of ${ACTIONS.join(", ")}`,
      );
    }
    const needsId = action === "show" || action === "retry";
    if (needsId && taskId === undefined) {
      throw new FlotillaError(
        "E_INVALID_ARGUMENT",
        `dlq ${action} needs a task id — see \`flotilla dlq ls\``,
      );
    }
    if (action === "purge" && (taskId === undefined) !== (context.values.all === true)) {
      throw new FlotillaError(
        "E_INVALID_ARGUMENT",
        "dlq purge takes one task id or --all — not both, not neither",
      );
    }
    const client = await context.client();
    if (action === "ls") {
      const entries = await client.dlq.list();
      if (context.json) {
        context.out(json(entries));
        return EXIT.OK;
      }
      const now = context.now();
      context.out(
        table(
          ["TASK", "ATTEMPTS", "AGE", "REASON"],
          entries.map((entry) => [
            entry.taskId,
            String(entry.attempts),
            formatDuration(now - entry.at),
            truncate(entry.reason, 80),
          ]),
        ),
      );
      return EXIT.OK;
    }
    if (action === "show") {
      context.out(json(await client.dlq.get(taskId ?? "")));
      return EXIT.OK;
    }
    if (action === "retry") {
      const result = await client.dlq.retry(taskId ?? "");
      context.out(context.json ? json(result) : `${taskId} queued again\n`);
      return EXIT.OK;
    }
    const result = await client.dlq.purge(taskId);
    context.out(
      context.json
        ? json(result)
        : taskId === undefined
          ? "dead-letter queue purged\n"
          : `${taskId} purged\n`,
    );
    return EXIT.OK;
  },
};
