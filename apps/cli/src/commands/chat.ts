/**
 * Chat for people: `flotilla publish TOPIC MESSAGE` and `flotilla subscribe TOPIC`, on the named topics
 * agents use (`agents:topic:{name}`), and `flotilla mcp`, the MCP server AI coding agents add.
 */
import type { KeptMessage } from "@flotilla/protocol";
import type { CommandSpec } from "../cli.js";
import { EXIT } from "../exit-codes.js";
import { json } from "../format.js";
import { dataOption } from "./fleet.js";

/** `flotilla publish`. */
export const publishCommand: CommandSpec = {
  name: "publish",
  summary: "publish a message on a named topic (agents:topic:NAME), kept for late readers",
  usage: "flotilla publish [--data JSON] TOPIC MESSAGE",
  options: { data: { type: "string", value: "JSON", description: "a JSON payload to send along" } },
  args: { min: 2, max: 2 },
  examples: [
    'flotilla publish builds "main is green"',
    'flotilla publish --data \'{"sha":"abc"}\' deploys done',
  ],
  async run(context) {
    const [topic = "", text = ""] = context.args;
    const data = dataOption(context);
    const client = await context.client();
    const published = await client.chat.publish(topic, text, data);
    context.out(context.json ? json(published) : `published ${published.seq}\n`);
    return EXIT.OK;
  },
};

/** How often `subscribe` asks for new messages. */
const SUBSCRIBE_POLL_MS = 250;

function messageLine(message: KeptMessage): string {
  const data = message.data === undefined ? "" : `  ${JSON.stringify(message.data)}`;
  return `${message.timestamp.slice(11, 19)}  ${message.from}  ${message.message}${data}\n`;
}

/** `flotilla subscribe`. */
export const subscribeCommand: CommandSpec = {
  name: "subscribe",
  summary: "print a topic's kept messages, then new ones as they come (Ctrl-C stops)",
  usage: "flotilla subscribe [--since SEQ] [--count N] [--json] TOPIC",
  options: {
    since: { type: "string", value: "SEQ", description: "start after this message seq (default: all kept)" },
    count: { type: "string", value: "N", description: "stop after N messages" },
    json: { type: "boolean", description: "print one JSON object a line" },
  },
  args: { min: 1, max: 1 },
  details: `Messages are kept in a bounded stream (the last 1000 or so), so a subscriber that starts late
still sees what it missed; each line's seq (--json) can be given to --since to resume.`,
  examples: ["flotilla subscribe builds", "flotilla subscribe --since 1733630000000-0 --json builds"],
  async run(context) {
    const topic = context.args[0] ?? "";
    const count =
      context.values.count === undefined ? Number.POSITIVE_INFINITY : Number(context.values.count);
    let since = typeof context.values.since === "string" ? context.values.since : "0";
    const client = await context.client();
    let stopped = false;
    let wake: (() => void) | undefined;
    const stop = context.onInterrupt(() => {
      stopped = true;
      wake?.();
    });
    let printed = 0;
    try {
      while (!stopped && printed < count) {
        const read = await client.chat.topic(topic, { since });
        for (const message of read.messages.slice(0, count - printed)) {
          context.out(context.json ? `${JSON.stringify(message)}\n` : messageLine(message));
          printed += 1;
        }
        since = read.next;
        if (printed >= count || read.messages.length > 0) continue;
        await pause(SUBSCRIBE_POLL_MS, (resume) => {
          wake = resume;
        });
      }
    } finally {
      stop();
    }
    return EXIT.OK;
  },
};

/** Waits `ms`, or less when the callback given to `onWake` is called. */
function pause(ms: number, onWake: (resume: () => void) => void): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    onWake(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
