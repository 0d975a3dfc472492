import { nodeRecordToHash, type RedisKeys } from "@flotilla/protocol";
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
 * `agents:general` and inbox messages on `agent:{id}:messages` relayed both ways.
 */
export class RedisBridges {
  private subscriber: RedisClient | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly handlers: BridgeHandlers,
  ) {}

  /** Subscribes (on a connection of its own) to discovery queries, broadcasts and every inbox. */
  async start(): Promise<void> {
    const subscriber = duplicateConnection(this.redis);
    this.subscriber = subscriber;
    subscriber.on("error", (error) => this.handlers.onConnectionError(error));
    await subscriber.subscribe(this.keys.discoveryQuery, this.keys.general);
    // Inboxes: `agent:{id}:messages` for every id.
    const [inboxHead, inboxTail] = this.keys.agentMessages("\u0000").split("\u0000") as [string, string];
    await subscriber.psubscribe(`${inboxHead}*${inboxTail}`);
    subscriber.on("pmessage", (_pattern, channel, raw) => {
      const relayed = bridgeMessage(raw);
      if (relayed)
        this.handlers.direct(channel.slice(inboxHead.length, channel.length - inboxTail.length), relayed);
    });
    subscriber.on("message", (channel, raw) => {
      if (channel === this.keys.general) {
        // A broadcast a bridge published on Redis reaches the agents connected here too.
        const relayed = bridgeMessage(raw);
        if (relayed) this.handlers.broadcast(relayed);
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

  /** Publishes a broadcast for bridges; returns how many Redis subscribers got it. */
  publishBroadcast(text: string, data: unknown, from: string): Promise<number> {
    const payload = JSON.stringify({
      from,
      type: "broadcast",
      timestamp: new Date(this.handlers.now()).toISOString(),
      message: text,
      data,
      via: RELAY_MARK,
    });
    return this.redis.publish(this.keys.general, payload);
  }

  /** Publishes a message to `to`'s inbox, for bridges listening there. */
  async publishDirect(to: string, text: string, data: unknown, from: string): Promise<void> {
    const payload = JSON.stringify({
      from,
      to,
      type: "direct",
      timestamp: new Date(this.handlers.now()).toISOString(),
      message: text,
      data,
      via: RELAY_MARK,
    });
    await this.redis.publish(this.keys.agentMessages(to), payload);
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

/** A broadcast or inbox message a bridge published on Redis: JSON with `message` (and `data`), or plain text. */
function bridgeMessage(raw: string): RelayedMessage | undefined {
  const parsed = parseJson<{ message?: unknown; data?: unknown; via?: unknown }>(raw);
  if (parsed && typeof parsed === "object") {
    if (parsed.via === RELAY_MARK) return undefined;
    const message = typeof parsed.message === "string" ? parsed.message : raw;
    return parsed.data === undefined ? { message } : { message, data: parsed.data };
  }
  return { message: raw };
}
