/**
 * The chat side of the SDK, `client.chat`: broadcasts, direct messages to an agent's inbox, named topics,
 * and reading back what the coordinator keeps of them, so an agent that was away catches up. Every read
 * takes `since`, the `seq` of the last message already seen (`"0"`, the default, for everything kept).
 */
import type { KeptMessages } from "@flotilla/protocol";
import type { FlotillaClient } from "./client.js";

/** Where to start reading kept messages. */
export interface ReadKeptOptions {
  /** The `seq` of the last message already seen; `"0"` (the default) reads from the start. */
  since?: string;
  /** At most this many messages (1..1000, default 1000). */
  limit?: number;
}

/** `client.chat`. */
export interface ChatApi {
  /** Sends a message to every agent (`agents:general`); it is also kept for late readers. */
  broadcast(message: string, data?: unknown): Promise<Record<string, unknown>>;
  /** Sends a message to one agent's inbox (`agent:{id}:messages`), kept in its inbox stream. */
  send(to: string, message: string, data?: unknown): Promise<Record<string, unknown>>;
  /** The agent's kept inbox after `since`, with the kept broadcasts unless `broadcasts` is false. */
  inbox(agentId: string, options?: ReadKeptOptions & { broadcasts?: boolean }): Promise<KeptMessages>;
  /** Publishes on a named topic (`agents:topic:{name}`): live, and kept in its bounded stream. */
  publish(topic: string, message: string, data?: unknown): Promise<{ seq: string; receivers: number }>;
  /** A topic's kept messages after `since`. */
  topic(topic: string, options?: ReadKeptOptions): Promise<KeptMessages>;
}

/** Builds `client.chat` on the client's requests. */
export function createChatApi(client: FlotillaClient): ChatApi {
  const withData = <T extends object>(fields: T, data: unknown): T =>
    data === undefined ? fields : { ...fields, data };
  return {
    broadcast: (message, data) => client.broadcast(message, data),
    send: (to, message, data) => client.request("direct", withData({ to, message }, data)),
    inbox: (agentId, options = {}) => client.request<KeptMessages>("inbox.read", { agentId, ...options }),
    publish: (topic, message, data) =>
      client.request<{ seq: string; receivers: number }>("topic.publish", withData({ topic, message }, data)),
    topic: (topic, options = {}) => client.request<KeptMessages>("topic.read", { topic, ...options }),
  };
}
