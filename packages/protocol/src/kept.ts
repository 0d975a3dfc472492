/**
 * Requests that read back what Redis keeps for late readers: the chat streams (an agent's inbox,
 * `agents:general`, named topics) and a task's output. Each is answered by `reply` or `error`.
 */
import { z } from "zod";
import { message } from "./envelope.js";
import { IdSchema, SenderSchema } from "./primitives.js";

/** The most messages or output chunks one read returns. */
export const MAX_KEPT_READ = 1000;

/** How many messages each chat stream keeps (approximately: Redis trims whole nodes of the stream). */
export const CHAT_STREAM_MAXLEN = 1000;

/**
 * A position in a kept chat stream: the Redis stream id of a message (`1733630000000-0`), or `0` for the
 * start. Ids of different streams compare by time, so one cursor serves an inbox and the broadcasts
 * together.
 */
export const ChatCursorSchema = z
  .string()
  .regex(/^\d{1,20}(-\d{1,20})?$/, { message: 'must be a message seq such as "1733630000000-0", or "0"' });

/** Where a kept chat message was sent. */
export const ChatChannelSchema = z.enum(["broadcast", "direct", "topic"]);

/** A chat message as it is kept and read back. */
export const KeptMessageSchema = z.object({
  /** Its place in its stream; give it as `since` to read what came after. */
  seq: ChatCursorSchema,
  channel: ChatChannelSchema,
  /** The topic name, for `topic` messages. */
  topic: z.string().optional(),
  /** The inbox owner, for `direct` messages. */
  to: z.string().optional(),
  from: SenderSchema,
  message: z.string(),
  data: z.unknown().optional(),
  /** ISO-8601, when the coordinator kept it. */
  timestamp: z.string(),
});
/** A chat message as it is kept and read back. */
export type KeptMessage = z.infer<typeof KeptMessageSchema>;

/** The answer to `inbox.read` and `topic.read`: messages after the cursor, oldest first. */
export interface KeptMessages {
  messages: KeptMessage[];
  /** The cursor to pass next time (the last message's seq, or the one given when there was none). */
  next: string;
}

/** A topic name (`agents:topic:{name}`): the characters of an id. */
export const TopicNameSchema = IdSchema;

/** Publish on a named topic: live on `agents:topic:{name}` and kept in its bounded stream. */
export const TopicPublishMessageSchema = message("topic.publish", {
  topic: TopicNameSchema,
  message: z.string(),
  data: z.unknown().optional(),
});
/** Publish on a named topic. */
export type TopicPublishMessage = z.infer<typeof TopicPublishMessageSchema>;

/** Read a topic's kept messages after `since` (default: from the start). */
export const TopicReadMessageSchema = message("topic.read", {
  topic: TopicNameSchema,
  since: ChatCursorSchema.optional(),
  limit: z.int().min(1).max(MAX_KEPT_READ).optional(),
});
/** Read a topic's kept messages. */
export type TopicReadMessage = z.infer<typeof TopicReadMessageSchema>;

/**
 * Read an agent's kept inbox (`direct` messages to it) merged with the kept broadcasts, after `since`;
 * `broadcasts: false` leaves the broadcasts out.
 */
export const InboxReadMessageSchema = message("inbox.read", {
  agentId: IdSchema,
  since: ChatCursorSchema.optional(),
  limit: z.int().min(1).max(MAX_KEPT_READ).optional(),
  broadcasts: z.boolean().optional(),
});
/** Read an agent's kept inbox. */
export type InboxReadMessage = z.infer<typeof InboxReadMessageSchema>;

/** Read a task's stored output: from output seq `fromSeq` on, or its last `tail` chunks. */
export const OutputReadMessageSchema = message("output.read", {
  taskId: IdSchema,
  fromSeq: z.int().min(0).optional(),
  tail: z.int().min(1).max(MAX_KEPT_READ).optional(),
});
/** Read a task's stored output. */
export type OutputReadMessage = z.infer<typeof OutputReadMessageSchema>;
