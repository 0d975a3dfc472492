/**
 * Chat between the agents of the fleet, on the channels the fleet already speaks: `broadcast`
 * (`agents:general`), `send_message` (`agent:{id}:messages`), `read_messages` (the caller's kept inbox
 * with the kept broadcasts), `list_agents` (`agents:active`), and named topics (`publish`, `read_topic`
 * on `agents:topic:{name}`). Every read takes `since`, the last `seq` seen, so a caller catches up.
 */
import {
  ChatCursorSchema,
  IdSchema,
  MAX_KEPT_READ,
  TopicNameSchema,
  TopicPublishMessageSchema,
} from "@flotilla/protocol";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { ToolContext } from "./context.js";
import { answer } from "./results.js";

const since = ChatCursorSchema.optional().describe(
  'the seq of the last message already read ("0" or absent: everything kept); pass back the `next` of the previous read',
);
const limit = z
  .int()
  .min(1)
  .max(MAX_KEPT_READ)
  .optional()
  .describe(`at most this many (default ${MAX_KEPT_READ})`);
const message = TopicPublishMessageSchema.shape.message.min(1).describe("the text");
const data = TopicPublishMessageSchema.shape.data.describe("optional structured data sent with it");

/** Registers the chat and topic tools. */
export function registerChatTools(server: McpServer, { client, agentId }: ToolContext): void {
  server.registerTool(
    "broadcast",
    {
      description: "Send a message to every agent of the fleet (agents:general).",
      inputSchema: { message, data },
    },
    ({ message: text, data: payload }) => answer(() => client.chat.broadcast(text, payload)),
  );

  server.registerTool(
    "send_message",
    {
      description: "Send a message to one agent's inbox (agent:{id}:messages); it is kept until read.",
      inputSchema: { to: IdSchema.describe("the agent id (list_agents)"), message, data },
    },
    ({ to, message: text, data: payload }) => answer(() => client.chat.send(to, text, payload)),
  );

  server.registerTool(
    "read_messages",
    {
      description: `Read this agent's inbox (${agentId}): direct messages and broadcasts after \`since\`, oldest first.`,
      inputSchema: {
        since,
        limit,
        includeBroadcasts: z.boolean().optional().describe("include broadcasts (default true)"),
      },
    },
    ({ since: after, limit: most, includeBroadcasts }) =>
      answer(async () => {
        const options: { since?: string; limit?: number; broadcasts?: boolean } = {};
        if (after !== undefined) options.since = after;
        if (most !== undefined) options.limit = most;
        if (includeBroadcasts !== undefined) options.broadcasts = includeBroadcasts;
        return { agentId, ...(await client.chat.inbox(agentId, options)) };
      }),
  );

  server.registerTool(
    "list_agents",
    {
      description:
        "The agents of the fleet (agents:active): capabilities, status and when each was last seen.",
    },
    () =>
      answer(async () => ({
        agents: (await client.nodes())
          .filter((node) => node.health !== "dead")
          .map((node) => ({
            id: node.id,
            host: node.host,
            status: node.status,
            health: node.health,
            capabilities: node.capabilities,
            lastSeen:
              node.lastHeartbeatAt === undefined ? undefined : new Date(node.lastHeartbeatAt).toISOString(),
          })),
      })),
  );

  server.registerTool(
    "publish",
    {
      description:
        "Publish a message on a named topic (agents:topic:{name}): live, and kept for late readers.",
      inputSchema: { topic: TopicNameSchema.describe("the topic name"), message, data },
    },
    ({ topic, message: text, data: payload }) => answer(() => client.chat.publish(topic, text, payload)),
  );

  server.registerTool(
    "read_topic",
    {
      description: "Read a named topic's kept messages after `since`, oldest first.",
      inputSchema: { topic: TopicNameSchema.describe("the topic name"), since, limit },
    },
    ({ topic, since: after, limit: most }) =>
      answer(() => {
        const options: { since?: string; limit?: number } = {};
        if (after !== undefined) options.since = after;
        if (most !== undefined) options.limit = most;
        return client.chat.topic(topic, options);
      }),
  );
}
