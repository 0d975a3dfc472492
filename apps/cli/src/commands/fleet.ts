import { alertChange, type FleetEvent, type NodeView } from "@flotilla/client";
import { FlotillaError } from "@flotilla/protocol";
import type { CommandContext, CommandSpec } from "../cli.js";
import { EXIT } from "../exit-codes.js";
import { JSON_OPTION, json, table } from "../format.js";
import { commandOf } from "./tasks.js";

function healthText(node: NodeView): string {
  return node.draining ? `${node.health},draining` : node.health;
}

function labelsText(labels: Record<string, string>): string {
  const pairs = Object.entries(labels).map(([key, value]) => `${key}=${value}`);
  return pairs.length === 0 ? "-" : pairs.join(",");
}

/** `flotilla nodes`. */
export const nodesCommand: CommandSpec = {
  name: "nodes",
  summary: "list the fleet's nodes: slots, load, health, breaker, labels",
  usage: "flotilla nodes [--json]",
  options: JSON_OPTION,
  args: { min: 0, max: 0 },
  examples: ["flotilla nodes", "flotilla nodes --json | jq '.[] | select(.health != \"healthy\")'"],
  async run(context) {
    const client = await context.client();
    const nodes = await client.nodes();
    if (context.json) {
      context.out(json(nodes));
      return EXIT.OK;
    }
    context.out(
      table(
        ["ID", "HOST", "OS/ARCH", "SLOTS", "QUEUED", "LOAD", "HEALTH", "BREAKER", "LABELS"],
        nodes.map((node) => [
          node.id,
          node.host,
          `${node.os}/${node.arch}`,
          `${node.slotsUsed}/${node.slotsTotal}`,
          String(node.queued),
          node.load1.toFixed(2),
          healthText(node),
          node.breaker,
          labelsText(node.labels),
        ]),
      ),
    );
    return EXIT.OK;
  },
};

function drainLike(name: "drain" | "undrain"): CommandSpec {
  const draining = name === "drain";
  return {
    name,
    summary: draining
      ? "stop placing new work on a node; running tasks finish"
      : "let a drained node take work again",
    usage: `flotilla ${name} NODE`,
    options: {},
    args: { min: 1, max: 1 },
    examples: [`flotilla ${name} mac-mini`],
    async run(context) {
      const nodeId = context.args[0] ?? "";
      const client = await context.client();
      await (draining ? client.drain(nodeId) : client.undrain(nodeId));
      context.out(
        draining
          ? `${nodeId} is draining: running tasks finish, no new work is placed there\n`
          : `${nodeId} takes work again\n`,
      );
      return EXIT.OK;
    },
  };
}

/** `flotilla drain NODE`. */
export const drainCommand = drainLike("drain");
/** `flotilla undrain NODE`. */
export const undrainCommand = drainLike("undrain");

/** `flotilla broadcast MESSAGE`. */
export const broadcastCommand: CommandSpec = {
  name: "broadcast",
  summary: "send a message to every agent (the agents:general channel)",
  usage: "flotilla broadcast [--data JSON] MESSAGE",
  options: { data: { type: "string", value: "JSON", description: "a JSON payload to send along" } },
  args: { min: 1, max: 1 },
  examples: [
    'flotilla broadcast "deploying in 5 minutes"',
    'flotilla broadcast --data \'{"sha":"abc"}\' deployed',
  ],
  async run(context) {
    let data: unknown;
    const text = context.values.data;
    if (typeof text === "string") {
      try {
        data = JSON.parse(text);
      } catch {
        throw new FlotillaError(
          "E_INVALID_ARGUMENT",
          "--data is not valid JSON — quote it, e.g. --data '{\"k\":1}'",
        );
      }
    }
    const client = await context.client();
    await client.broadcast(context.args[0] ?? "", data);
    context.out("sent\n");
    return EXIT.OK;
  },
};

function eventLine(event: FleetEvent): string {
  const time = event.timestamp.slice(11, 19);
  switch (event.type) {
    case "task.event": {
      const where = event.node === undefined ? "" : ` on ${event.node}`;
      const why = event.reason === undefined ? "" : ` (${event.reason})`;
      return `${time}  ${event.taskId}  ${event.previous ?? "-"} -> ${event.state}${where}${why}`;
    }
    case "broadcast": {
      // The coordinator relays fleet events (node.drained, node.dead, …) as broadcasts named after them.
      const alert = alertChange(event);
      if (alert) return `${time}  ${alert.type} ${alert.alert.rule}: ${alert.alert.message}`;
      const data = event.data as { node?: unknown } | undefined;
      if (event.from === "coordinator" && typeof data?.node === "string") {
        return `${time}  ${event.message} ${data.node}`;
      }
      return `${time}  broadcast from ${event.from}: ${event.message}`;
    }
    default:
      return `${time}  ${event.type} from ${event.from}`;
  }
}

async function recentEvents(context: CommandContext): Promise<number> {
  const client = await context.client();
  const tasks = await client.tasks({ limit: 20 });
  const recent = [...tasks].sort((a, b) => a.updatedAt - b.updatedAt);
  if (context.json) {
    context.out(
      json(
        recent.map((task) => ({ taskId: task.id, state: task.state, node: task.node, at: task.updatedAt })),
      ),
    );
    return EXIT.OK;
  }
  context.out(
    table(
      ["TIME", "TASK", "STATE", "NODE", "COMMAND"],
      recent.map((task) => [
        new Date(task.updatedAt).toISOString().slice(11, 19),
        task.id,
        task.state,
        task.node ?? "-",
        commandOf(task),
      ]),
    ),
  );
  return EXIT.OK;
}

/** `flotilla events`. */
export const eventsCommand: CommandSpec = {
  name: "events",
  summary: "show recent task activity; -f streams fleet events live",
  usage: "flotilla events [-f] [--json]",
  options: {
    follow: { type: "boolean", short: "f", description: "stream events as they happen (Ctrl-C stops)" },
    json: { type: "boolean", description: "one JSON object per line (with -f) or a JSON list" },
  },
  args: { min: 0, max: 0 },
  examples: [
    "flotilla events",
    "flotilla events -f",
    "flotilla events -f --json | jq -c 'select(.state==\"failed\")'",
  ],
  async run(context) {
    if (context.values.follow !== true) return await recentEvents(context);
    const client = await context.client();
    const events = client.events()[Symbol.asyncIterator]();
    const stopListening = context.onInterrupt(() => void events.return?.());
    try {
      for (let next = await events.next(); !next.done; next = await events.next()) {
        context.out(context.json ? `${JSON.stringify(next.value)}\n` : `${eventLine(next.value)}\n`);
      }
    } finally {
      stopListening();
    }
    return EXIT.OK;
  },
};
