import { nodeRecordToHash, type RedisKeys } from "@flotilla/protocol";
import { type KeptEntry, keepEntry } from "./chat.js";
import type { FleetNode } from "./fleet.js";
import { parseJson } from "./records.js";
import { duplicateConnection, type RedisClient } from "./redis-connection.js";

/** Marks what the coordinator itself published on Redis, so its relay does not echo it back. */
const RELAY_MARK = "flotilla-coordinator";

/** A broadcast or inbox message as it reaches an agent. */
export interface RelayedMessage {
  message: string;
  data?: unknown;
}

/** What the coordinator does with what bridges publish. */
export interface BridgeHandlers {
  /** A bridge wrote to `agent:{nodeId}:messages`. */
  direct(nodeId: string, relayed: RelayedMessage): void;
  /** A bridge broadcast on `agents:general`. */
  broadcast(relayed: RelayedMessage): void;
  /** The nodes to name in a discovery response (those with every capability in `want`). */
  discover(want: string[] | undefined): unknown[];
  now(): number;
  /** Reports work that may fail (a publish) without awaiting it. */
  guard(work: Promise<unknown>): void;
  onConnectionError(error: Error): void;
}

/**
 * The fleet as bridges that speak only Redis see it (DESIGN.md's vocabulary): the `agent:{id}` registry
 * and heartbeat keys, discovery queries answered on `agents:discovery:response`, broadcasts on
 * `agents:general` and inbox messages on `agent:{id}:messages` relayed both ways, and named topics on
 * `agents:topic:{name}`. Every chat message that passes here, either way, is also kept (see `chat.ts`).
 */
export class RedisBridges {
  private subscriber: RedisClient | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly handlers: BridgeHandlers,
  ) {}

  /** Subscribes (on a connection of its own) to discovery queries, broadcasts, every inbox and topic. */
  async start(): Promise<void> {
    const subscriber = duplicateConnection(this.redis);
    this.subscriber = subscriber;
    subscriber.on("error", (error) => this.handlers.onConnectionError(error));
    await subscriber.subscribe(this.keys.discoveryQuery, this.keys.general);
    // Inboxes: `agent:{id}:messages` for every id.
    const [inboxHead, inboxTail] = this.keys.agentMessages("\u0000").split("\u0000") as [string, string];
    const inboxes = `${inboxHead}*${inboxTail}`;
    // Topics: a message a bridge published on `agents:topic:{name}` itself is kept like the ones sent here.
    const topicHead = this.keys.topic("");
    const topics = `${topicHead}*`;
    await subscriber.psubscribe(inboxes, topics);
    subscriber.on("pmessage", (pattern, channel, raw) => {
      const relayed = bridgeMessage(raw);
      if (!relayed) return;
      if (pattern === topics) {
        const topic = channel.slice(topicHead.length);
        this.handlers.guard(this.keepOnly(channel, this.entry("topic", relayed, { topic })));
        return;
      }
      const to = channel.slice(inboxHead.length, channel.length - inboxTail.length);
      this.handlers.guard(this.keepOnly(this.keys.agentInbox(to), this.entry("direct", relayed, { to })));
      this.handlers.direct(to, withoutSender(relayed));
    });
    subscriber.on("message", (channel, raw) => {
      if (channel === this.keys.general) {
        // A broadcast a bridge published on Redis reaches the agents connected here too.
        const relayed = bridgeMessage(raw);
        if (!relayed) return;
        this.handlers.guard(this.keepOnly(this.keys.generalKept, this.entry("broadcast", relayed, {})));
        this.handlers.broadcast(withoutSender(relayed));
        return;
      }
      if (channel !== this.keys.discoveryQuery) return;
      const query = parseJson<{ id?: string; from?: string; want?: { capabilities?: string[] } }>(raw);
      const response = JSON.stringify({
        from: "coordinator",
        type: "discovery.response",
        timestamp: new Date(this.handlers.now()).toISOString(),
        replyTo: query?.id ?? query?.from ?? "",
        nodes: this.handlers.discover(query?.want?.capabilities),
      });
      this.handlers.guard(this.redis.publish(this.keys.discoveryResponse, response));
    });
  }

  stop(): void {
    this.subscriber?.disconnect();
  }

  /** Publishes a broadcast for bridges and keeps it; returns how many Redis subscribers got it. */
  async publishBroadcast(text: string, data: unknown, from: string): Promise<number> {
    const entry = this.entry("broadcast", { message: text, data, from }, {});
    return (await this.publishKept(this.keys.general, this.keys.generalKept, entry, {})).receivers;
  }

  /** Publishes a message to `to`'s inbox, for bridges listening there, and keeps it in the inbox stream. */
  async publishDirect(to: string, text: string, data: unknown, from: string): Promise<void> {
    const entry = this.entry("direct", { message: text, data, from }, { to });
    await this.publishKept(this.keys.agentMessages(to), this.keys.agentInbox(to), entry, { to });
  }

  /**
   * Publishes on a named topic (`agents:topic:{name}`) and keeps it in the stream of the same name;
   * returns its seq and how many Redis subscribers got it.
   */
  async publishTopic(
    topic: string,
    text: string,
    data: unknown,
    from: string,
  ): Promise<{ seq: string; receivers: number }> {
    const key = this.keys.topic(topic);
    return await this.publishKept(key, key, this.entry("topic", { message: text, data, from }, { topic }), {
      topic,
    });
  }

  /** A message as kept, dated now. */
  private entry(
    channel: KeptEntry["channel"],
    relayed: RelayedMessage & { from?: string },
    where: { to?: string; topic?: string },
  ): KeptEntry {
    const entry: KeptEntry = {
      channel,
      from: relayed.from ?? "bridge",
      message: relayed.message,
      timestamp: new Date(this.handlers.now()).toISOString(),
      ...where,
    };
    if (relayed.data !== undefined) entry.data = relayed.data;
    return entry;
  }

  /**
   * Publishes `entry` live on `channel` and keeps it at `key`, in one MULTI. A resend after a lost Redis
   * connection may keep it twice: chat is at least once.
   */
  private async publishKept(
    channel: string,
    key: string,
    entry: KeptEntry,
    where: { to?: string; topic?: string },
  ): Promise<{ seq: string; receivers: number }> {
    const payload = JSON.stringify({
      from: entry.from,
      ...where,
      type: entry.channel,
      timestamp: entry.timestamp,
      message: entry.message,
      data: entry.data,
      via: RELAY_MARK,
    });
    const replies = await keepEntry(this.redis.multi(), key, entry).publish(channel, payload).exec();
    const [added, published] = replies ?? [];
    if (added?.[0] || published?.[0]) throw added?.[0] ?? published?.[0];
    return { seq: String(added?.[1]), receivers: Number(published?.[1] ?? 0) };
  }

  /** Keeps a message a bridge published on Redis itself. */
  private async keepOnly(key: string, entry: KeptEntry): Promise<void> {
    await keepEntry(this.redis.multi(), key, entry).exec();
  }

  /**
   * Writes a node's registry entry: the `agent:{id}` hash (replaced whole), its place in `agents:active`
   * and its heartbeat key, which expires after `heartbeatTtlMs`.
   */
  async writeRegistry(node: FleetNode, breaker: string, now: number, heartbeatTtlMs: number): Promise<void> {
    const record: Parameters<typeof nodeRecordToHash>[0] = {
      id: node.id,
      host: node.host,
      type: "flotilla",
      capabilities: node.capabilities,
      lastSeenAt: now,
      version: node.version,
      slots: node.slots,
      labels: node.labels,
      status: node.status,
      draining: node.draining,
      breaker,
    };
    if (node.fingerprint) record.fingerprint = node.fingerprint;
    await this.redis
      .multi()
      .del(this.keys.agent(node.id))
      .hset(this.keys.agent(node.id), nodeRecordToHash(record))
      .sadd(this.keys.agentsActive, node.id)
      .set(
        this.keys.agentHeartbeat(node.id),
        JSON.stringify({
          from: node.id,
          type: "heartbeat",
          timestamp: new Date(now).toISOString(),
          capabilities: node.capabilities,
          status: node.status,
        }),
        "PX",
        heartbeatTtlMs,
      )
      .exec();
  }
}

/**
 * A broadcast or inbox message a bridge published on Redis: JSON with `message` (and `data`, `from`), or
 * plain text. `from` is kept with the message, not relayed.
 */
function bridgeMessage(raw: string): (RelayedMessage & { from?: string }) | undefined {
  const parsed = parseJson<{ message?: unknown; data?: unknown; via?: unknown; from?: unknown }>(raw);
  if (parsed && typeof parsed === "object") {
    if (parsed.via === RELAY_MARK) return undefined;
    const message = typeof parsed.message === "string" ? parsed.message : raw;
    const relayed: RelayedMessage & { from?: string } =
      parsed.data === undefined ? { message } : { message, data: parsed.data };
    if (typeof parsed.from === "string") relayed.from = parsed.from;
    return relayed;
  }
  return { message: raw };
}

/** The message as agents get it: the sender stays with the kept copy. */
function withoutSender(relayed: RelayedMessage & { from?: string }): RelayedMessage {
  return relayed.data === undefined
    ? { message: relayed.message }
    : { message: relayed.message, data: relayed.data };
}
