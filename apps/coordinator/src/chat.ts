/**
 * Kept chat: the bounded Redis streams that keep what goes out live on the chat channels, so an agent
 * that was away catches up. `agent:{id}:inbox` keeps an agent's direct messages, `agents:general:kept`
 * the broadcasts, and `agents:topic:{name}` (the stream of the same name as the topic's channel; Redis
 * keeps channel and key names apart) a named topic. The bridges module writes them as it publishes; this
 * module owns their entry format and reads them back, oldest first, after a cursor.
 */
import { CHAT_STREAM_MAXLEN, type KeptMessage, type KeptMessages } from "@flotilla/protocol";
import type { ChainableCommander } from "ioredis";
import type { RedisClient } from "./redis-connection.js";

/** A message to keep, as it goes out. */
export type KeptEntry = Omit<KeptMessage, "seq">;

/** Adds the XADD that keeps `entry` at `key`, trimmed to about {@link CHAT_STREAM_MAXLEN} entries. */
export function keepEntry(pipeline: ChainableCommander, key: string, entry: KeptEntry): ChainableCommander {
  const fields = [
    "from",
    entry.from,
    "channel",
    entry.channel,
    "message",
    entry.message,
    "timestamp",
    entry.timestamp,
  ];
  if (entry.to !== undefined) fields.push("to", entry.to);
  if (entry.topic !== undefined) fields.push("topic", entry.topic);
  if (entry.data !== undefined) fields.push("data", JSON.stringify(entry.data));
  return pipeline.xadd(key, "MAXLEN", "~", CHAT_STREAM_MAXLEN, "*", ...fields);
}

/** One stream entry back as a message; undefined for an entry this module did not write. */
function toMessage(seq: string, values: string[]): KeptMessage | undefined {
  const record: Record<string, string> = {};
  for (let i = 0; i + 1 < values.length; i += 2) record[values[i] as string] = values[i + 1] as string;
  const channel = record.channel;
  if (channel !== "broadcast" && channel !== "direct" && channel !== "topic") return undefined;
  const message: KeptMessage = {
    seq,
    channel,
    from: record.from ?? "unknown",
    message: record.message ?? "",
    timestamp: record.timestamp ?? new Date(Number(seq.split("-")[0])).toISOString(),
  };
  if (record.to !== undefined) message.to = record.to;
  if (record.topic !== undefined) message.topic = record.topic;
  if (record.data !== undefined) {
    try {
      message.data = JSON.parse(record.data) as unknown;
    } catch {
      message.data = record.data;
    }
  }
  return message;
}

/** Compares two stream ids (`ms-seq`) as Redis orders them. */
function compareSeq(a: string, b: string): number {
  const [aMs = "0", aSeq = "0"] = a.split("-");
  const [bMs = "0", bSeq = "0"] = b.split("-");
  const byMs = BigInt(aMs) - BigInt(bMs);
  if (byMs !== 0n) return byMs < 0n ? -1 : 1;
  const bySeq = BigInt(aSeq) - BigInt(bSeq);
  return bySeq === 0n ? 0 : bySeq < 0n ? -1 : 1;
}

/**
 * The messages kept at `keys` after `since` (exclusive; `"0"` = from the start), oldest first and at most
 * `limit`, merged by seq: stream ids are times, so one cursor serves several streams.
 */
export async function readKept(
  redis: RedisClient,
  keys: readonly string[],
  since: string,
  limit: number,
): Promise<KeptMessages> {
  const start = since === "0" ? "-" : `(${since}`;
  const replies = await Promise.all(keys.map((key) => redis.xrange(key, start, "+", "COUNT", limit)));
  const messages: KeptMessage[] = [];
  for (const entries of replies) {
    for (const [seq, values] of entries) {
      const message = toMessage(seq, values);
      if (message) messages.push(message);
    }
  }
  messages.sort((a, b) => compareSeq(a.seq, b.seq));
  const page = messages.slice(0, limit);
  return { messages: page, next: page.at(-1)?.seq ?? since };
}
