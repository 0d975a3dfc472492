import { createServer, type IncomingMessage, type Server } from "node:http";
import type { Duplex } from "node:stream";
import {
  decode,
  FlotillaError,
  FrameOutbox,
  type Message,
  type MessageFields,
  type MessageOf,
  type MessageType,
  type NodeInfo,
  type RawFrame,
  type TaskSpec,
  TERMINAL_STATES,
  toFlotillaError,
  type WireError,
} from "@flotilla/protocol";
import { Redis } from "ioredis";
import { pino } from "pino";
import { type WebSocket, WebSocketServer } from "ws";
import { AgentClock } from "./agent-clock.js";
import { bearerToken, type Principal, TokenAuthority } from "./auth.js";
import { BreakerRegistry } from "./breakers.js";
import { RedisBridges } from "./bridges.js";
import { TaskFanout } from "./fanout.js";
import {
  discoverable,
  type FleetNode,
  inQueue,
  leaseCapacity,
  type NodeListing,
  newFleetNode,
  nodeListing,
  nodeSummary,
  queuedOn,
  slotsUsed,
  stopHoldingAhead,
  toNodeView,
} from "./fleet.js";
import { FrameWriter } from "./frames.js";
import { type HttpApi, handleHttp, sendJson } from "./http.js";
import { InFlight } from "./inflight.js";
import { type CoordinatorKeys, coordinatorKeys } from "./keys.js";
import { CoordinatorMetrics } from "./metrics.js";
import { type CoordinatorOptions, type ResolvedOptions, resolveOptions } from "./options.js";
import { parseJson, publicTask } from "./records.js";
import { Retention } from "./retention.js";
import { type Placement, Router } from "./router.js";
import {
  applyTransition,
  decodeTask,
  type LeaseBatch,
  type StoredTask,
  TaskStore,
  type Transition,
} from "./store.js";

/** A running coordinator. */
export interface Coordinator {
  /** Connects to Redis, recovers state, and starts listening. Rejects with a clear error when Redis is down. */
  start(): Promise<void>;
  /** Stops accepting, finishes in-flight Redis writes, closes every connection. */
  stop(): Promise<void>;
  /** The port it listens on (after `start`). */
  readonly port: number;
  /** `ws://host:port` for agents and clients (after `start`). */
  readonly url: string;
  /** Test and demo access to internals that are otherwise only visible through Redis and metrics. */
  readonly inspect: {
    nodes(): readonly FleetNode[];
    metrics(): Promise<string>;
  };
}

type Role = "agent" | "client";

interface Session {
  readonly socket: WebSocket;
  readonly role: Role;
  readonly principal: Principal;
  readonly label: string;
  nodeId: string | undefined;
  violations: number;
  watching: Set<string>;
  /** Tasks submitted with `wait` on this connection that have not ended yet. */
  awaiting: Set<string>;
  /** Frames waiting for the end of this event-loop turn (see `sendRaw`). */
  outbox: FrameOutbox;
  /** The agent's clock against this process's: the times it reports are recorded through it. */
  clock: AgentClock;
}

/** The frames about one task that are being handled or wait their turn (see `onFrame`). */
interface TaskChain {
  readonly taskId: string;
  /** The last of them; the next frame starts after it. */
  tail: Promise<void> | undefined;
  /** How many have not ended yet: the chain is dropped at 0. */
  frames: number;
}

interface LeaseInfo {
  node: string;
  epoch: number;
  attempt: number;
  spec: TaskSpec;
  leasedAt: number;
  startedAt: number | undefined;
  /**
   * Set while the lease was sent to its agent ahead of the submit script's reply: settles once the reply
   * has been handled (the submit answered, its events out). What the agent says about the run waits for it.
   */
  confirming: Promise<void> | undefined;
  /**
   * The task hash as this coordinator wrote it, kept for a task leased in its submit script that someone
   * waits for, with the number of events in the task's history it matches: its finish then need not read
   * the record back from Redis for `task.done` (the script returns it only if a change made elsewhere
   * came in between; see `knownEvents`).
   */
  record?: { hash: Readonly<Record<string, string | number>>; events: number } | undefined;
}

const ACTIVE_STATES = ["leased", "running"] as const;
const TERMINAL: ReadonlySet<string> = new Set(TERMINAL_STATES);
const AGENT_TYPES = new Set<MessageType>([
  "agent.hello",
  "heartbeat",
  "agent.bye",
  "task.accept",
  "task.reject",
  "task.output",
  "task.progress",
  "task.finish",
  "steal.request",
  "discovery.query",
  "broadcast",
  "direct",
]);
const CLIENT_TYPES = new Set<MessageType>([
  "task.submit",
  "task.cancel",
  "task.watch",
  "task.unwatch",
  "task.get",
  "tasks.list",
  "nodes.list",
  "events.watch",
  "node.drain",
  "node.undrain",
  "broadcast",
  "direct",
  "dlq.list",
  "dlq.get",
  "dlq.retry",
  "dlq.purge",
  "discovery.query",
]);
/** Node faults retry this many attempts in all unless the task says otherwise. */
const DEFAULT_FAULT_ATTEMPTS = 3;
const DEFAULT_BACKOFF_MS = 200;
const DEFAULT_MAX_BACKOFF_MS = 30_000;

/** Builds a coordinator. Nothing happens until `start()`. */
export function createCoordinator(options: CoordinatorOptions): Coordinator {
  return new CoordinatorServer(options);
}

class CoordinatorServer implements Coordinator {
  private readonly options: ResolvedOptions;
  private readonly keys: CoordinatorKeys;
  private readonly authority: TokenAuthority;
  private readonly log;
  private redis: Redis | undefined;
  private bridges: RedisBridges | undefined;
  private store: TaskStore | undefined;
  private retention: Retention | undefined;
  private server: Server | undefined;
  private wss: WebSocketServer | undefined;
  private readonly nodes = new Map<string, FleetNode>();
  private readonly agentSessions = new Map<string, Session>();
  private readonly sessions = new Set<Session>();
  private readonly leases = new Map<string, LeaseInfo>();
  /** Whether a lease may go to its agent before Redis has answered its submit: off after a failed write. */
  private dispatchEarly = true;
  /** Leases sent to their agent whose submit Redis has not answered yet (at most one). */
  private sentEarly = 0;
  private readonly frames: FrameWriter;
  /** Who hears about each task: watchers, event watchers, submitters waiting for the outcome. */
  private readonly fanout: TaskFanout<Session>;
  private readonly dispatching = new Map<string, "busy" | "again">();
  /** Nodes whose next dispatch asks Redis even if their queue looks empty here. */
  private readonly verifyQueue = new Set<string>();
  private readonly submittedAt = new Map<string, number>();
  /** Frames of one task still to be handled, in order (see `onFrame`). */
  private readonly taskChains = new Map<string, TaskChain>();
  private readonly breakers: BreakerRegistry;
  private readonly router: Router;
  private readonly metrics = new CoordinatorMetrics();
  private timers: NodeJS.Timeout[] = [];
  private sessionCounter = 0;
  private taskCounter = 0;
  private stopping = false;
  /** Frames being handled, script writes and background steps: `stop()` waits for them. */
  private readonly underway = new InFlight();
  private listeningPort = 0;
  private lastWaitingSweep = 0;

  constructor(options: CoordinatorOptions) {
    this.options = resolveOptions(options, pino({ level: "silent" }));
    this.log = this.options.logger;
    this.keys = coordinatorKeys(this.options.prefix);
    this.authority = new TokenAuthority(this.options.token, this.options.nodeTokens);
    this.breakers = new BreakerRegistry();
    this.frames = new FrameWriter(this.options.clock);
    this.fanout = new TaskFanout(this.frames, {
      loadTask: (taskId) => this.db.getTask(taskId),
      guard: (work) => this.guard(work),
    });
    const routerOptions: ConstructorParameters<typeof Router>[0] = {
      strategy: this.options.strategy,
      loadThreshold: this.options.loadThreshold,
      random: this.options.random,
      maxQueuePerNode: this.options.maxQueuePerNode,
      fairShareQuantumMs: 1000,
    };
    if (this.options.fallbackNode !== undefined) routerOptions.fallbackNode = this.options.fallbackNode;
    this.router = new Router(routerOptions);
  }

  get port(): number {
    return this.listeningPort;
  }

  get url(): string {
    const host =
      this.options.host === "0.0.0.0" || this.options.host === "::" ? "127.0.0.1" : this.options.host;
    return `ws://${host}:${this.listeningPort}`;
  }

  readonly inspect = {
    nodes: (): readonly FleetNode[] => [...this.nodes.values()],
    metrics: (): Promise<string> => this.metrics.render(),
  };

  // ---- lifecycle ----

  async start(): Promise<void> {
    const now = this.options.clock;
    this.redis = new Redis(this.options.redisUrl, {
      lazyConnect: true,
      // Commands issued in the same tick go out in one write: fewer syscalls on the hot path.
      enableAutoPipelining: true,
      // Script calls are batched per turn by the ScriptRunner already: its one command goes out at once.
      autoPipeliningIgnoredCommands: ["evalsha", "eval"],
      maxRetriesPerRequest: null,
      enableOfflineQueue: true,
      retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2000),
    });
    let lastRedisError = "";
    this.redis.on("error", (error) => {
      lastRedisError = error.message;
      this.log.warn({ err: error.message }, "redis connection problem");
    });
    this.redis.on("reconnecting", () => this.log.warn("redis: reconnecting"));
    this.redis.on("ready", () => this.log.info("redis: ready"));
    try {
      await withTimeout(this.redis.connect(), 5000, `cannot reach Redis at ${this.options.redisUrl}`);
      await this.redis.ping();
    } catch (error) {
      this.redis.disconnect();
      const why = lastRedisError || message(error);
      throw new FlotillaError(
        "E_REDIS_UNAVAILABLE",
        `cannot reach Redis at ${this.options.redisUrl}: ${why}`,
        {
          cause: error,
        },
      );
    }
    const version = /redis_version:(\d+)\.(\d+)/.exec(await this.redis.info("server"));
    if (version && Number(version[1]) < 7) {
      this.redis.disconnect();
      throw new FlotillaError(
        "E_REDIS_UNAVAILABLE",
        `Redis at ${this.options.redisUrl} is ${version[1]}.${version[2]}; Flotilla needs Redis 7.0 or newer`,
      );
    }
    this.store = new TaskStore(this.redis, this.keys.store, {
      idempotencyTtlSeconds: this.options.idempotencyTtlSeconds,
      outputCap: this.options.outputCap,
      maxOutputBytes: this.options.maxOutputBytes,
      maxWaiting: this.options.maxWaiting,
    });
    this.retention = new Retention(this.store, this.options);
    await this.store.preload();
    this.redis.on("ready", () => this.guard(this.db.preload()));
    await this.recover(now());
    this.bridges = new RedisBridges(this.redisClient, this.keys.redis, {
      direct: (nodeId, relayed) => {
        const session = this.agentSessions.get(nodeId);
        if (session) this.send(session, "direct", { to: nodeId, ...relayed });
      },
      broadcast: (relayed) => {
        for (const session of this.agentSessions.values()) this.send(session, "broadcast", relayed);
      },
      discover: (want) => discoverable(this.nodes.values(), want),
      now: () => this.options.clock(),
      guard: (work) => this.guard(work),
      onConnectionError: (error) => this.log.debug({ err: error.message }, "subscriber connection problem"),
    });
    await this.bridges.start();

    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.options.maxFrameBytes });
    const api = this.httpApi();
    this.server = createServer((request, response) => {
      handleHttp(api, request, response).catch((error: unknown) => {
        this.log.error({ err: message(error) }, "http handler failed");
        if (!response.headersSent) sendJson(response, 500, { code: "E_INTERNAL", message: "internal error" });
      });
    });
    this.server.on("upgrade", (request, socket, head) => this.handleUpgrade(request, socket, head));
    await new Promise<void>((resolve, reject) => {
      const server = this.server as Server;
      server.once("error", reject);
      server.listen(this.options.port, this.options.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const address = this.server.address();
    this.listeningPort = typeof address === "object" && address !== null ? address.port : this.options.port;
    this.timers.push(setInterval(() => this.guard(this.sweep()), this.options.sweepIntervalMs));
    this.timers.push(setInterval(() => this.guard(this.rebalance()), this.options.rebalanceIntervalMs));
    this.timers.push(setInterval(() => this.guard(this.writeFleetMetrics()), 5000));
    for (const timer of this.timers) timer.unref();
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    const closed = new Promise<void>((resolve) => {
      if (!this.server) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections?.();
    });
    // The server's close waits for every socket, and upgraded ones are not among those it closes itself.
    for (const session of this.sessions) session.socket.terminate();
    this.wss?.close();
    await closed;
    await this.underway.idle();
    this.bridges?.stop();
    if (this.redis) await this.redis.quit().catch(() => this.redis?.disconnect());
  }

  /** Runs background work, logging instead of crashing, and tracks it so `stop()` can wait for it. */
  private guard(work: Promise<unknown>): void {
    this.underway.enter();
    work.then(this.guardDone, this.guardFailed);
  }

  private readonly guardDone = (): void => this.underway.leave();
  private readonly guardFailed = (error: unknown): void => {
    this.log.error({ err: message(error) }, "background step failed");
    this.underway.leave();
  };

  private get db(): TaskStore {
    if (!this.store) throw new FlotillaError("E_INTERNAL", "coordinator not started");
    return this.store;
  }

  private get redisClient(): Redis {
    if (!this.redis) throw new FlotillaError("E_INTERNAL", "coordinator not started");
    return this.redis;
  }

  /** Rebuilds the in-memory picture from Redis after a start or restart. */
  private async recover(now: number): Promise<void> {
    const redis = this.redisClient;
    const ids = await redis.smembers(this.keys.redis.agentsActive);
    for (const id of ids) {
      const hash = await redis.hgetall(this.keys.redis.agent(id));
      if (hash.type !== undefined && hash.type !== "flotilla") continue;
      const node = newFleetNode(id, now);
      node.host = hash.host ?? id;
      node.slots = Number(hash.slots ?? 1) || 1;
      try {
        node.capabilities = JSON.parse(hash.capabilities ?? "[]") as string[];
        node.labels = JSON.parse(hash.labels ?? "{}") as Record<string, string>;
        if (hash.fingerprint) node.fingerprint = JSON.parse(hash.fingerprint) as NodeInfo["fingerprint"];
      } catch {
        this.log.warn({ node: id }, "unreadable registry record; waiting for the agent's hello");
      }
      node.draining = hash.draining === "true";
      // Its agent has not reconnected yet: give it the heartbeat timeout to do so, not the suspect grace.
      node.disconnectedAt = undefined;
      this.nodes.set(id, node);
      const breaker = await redis.get(this.keys.redis.breaker(id));
      if (breaker) this.breakers.restore(id, breaker);
    }
    const depths = await this.db.queueDepths([...this.nodes.keys()]);
    for (const [id, depth] of depths) {
      const node = this.nodes.get(id);
      if (node) node.queued = depth;
    }
    for (const node of this.nodes.values()) {
      const running = await this.db.runningIds(node.id);
      node.inflight = running.length;
    }
    if (this.nodes.size > 0) {
      this.log.info(
        { nodes: [...this.nodes.keys()] },
        "recovered fleet from Redis; waiting for agents to reconnect",
      );
    }
  }

  // ---- HTTP ----

  /** What the HTTP endpoints (`http.ts`) may see and do. */
  private httpApi(): HttpApi {
    return {
      health: () => ({
        redis: this.redis?.status ?? "none",
        healthyNodes: [...this.nodes.values()].filter((node) => node.health === "healthy").length,
      }),
      metrics: async () => {
        this.refreshGauges();
        this.metrics.observeCensus(await this.db.census([...this.nodes.keys()]));
        return { contentType: this.metrics.contentType, body: await this.metrics.render() };
      },
      authenticate: (token) => this.authority.authenticate(token) !== undefined,
      maxBodyBytes: this.options.maxFrameBytes,
      submit: (spec) => this.submit(spec, "http"),
      getTask: (id) => this.db.getTask(id),
    };
  }

  // ---- WebSocket sessions ----

  private handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(request.url ?? "/", "http://coordinator");
    const role: Role | undefined =
      url.pathname === "/v1/agent" ? "agent" : url.pathname === "/v1/client" ? "client" : undefined;
    if (role === undefined || this.stopping) {
      rejectUpgrade(
        socket,
        role === undefined ? 404 : 503,
        role === undefined ? "Not Found" : "Service Unavailable",
      );
      return;
    }
    const principal = this.authority.authenticate(bearerToken(request));
    if (principal === undefined || (role === "client" && principal.kind !== "fleet")) {
      rejectUpgrade(socket, 401, "Unauthorized");
      return;
    }
    this.wss?.handleUpgrade(request, socket, head, (ws) => {
      const session: Session = {
        socket: ws,
        role,
        principal,
        label: `${role}-${(++this.sessionCounter).toString(36)}`,
        nodeId: undefined,
        violations: 0,
        watching: new Set(),
        awaiting: new Set(),
        outbox: new FrameOutbox(ws),
        clock: new AgentClock(),
      };
      this.sessions.add(session);
      ws.on("message", (data: RawFrame) => this.onFrame(session, data));
      ws.on("close", () => this.onClose(session));
      ws.on("error", (error) =>
        this.log.debug({ err: error.message, session: session.label }, "socket error"),
      );
    });
  }

  private onFrame(session: Session, data: RawFrame): void {
    const result = decode(data, { maxBytes: this.options.maxFrameBytes });
    if (!result.ok) {
      this.violation(session, result.error, result.error.code === "E_BAD_JSON" ? undefined : frameId(data));
      return;
    }
    const frame = result.message;
    const allowed = session.role === "agent" ? AGENT_TYPES : CLIENT_TYPES;
    if (!allowed.has(frame.type)) {
      this.violation(
        session,
        new FlotillaError("E_UNKNOWN_TYPE", `${session.role}s may not send ${frame.type}`, {
          details: { type: frame.type },
        }),
        frame.id,
      );
      return;
    }
    if (session.role === "agent" && frame.type !== "agent.hello") {
      if (session.nodeId === undefined) {
        this.violation(session, new FlotillaError("E_UNAUTHORIZED", "send agent.hello first"), frame.id);
        return;
      }
      if (frame.from !== session.nodeId) {
        this.violation(
          session,
          new FlotillaError(
            "E_UNAUTHORIZED",
            `this connection speaks for ${session.nodeId}, not ${frame.from}`,
          ),
          frame.id,
        );
        return;
      }
    }
    // Frames about one run (accept, output, finish) are applied in the order the agent sent them; frames
    // about different tasks proceed concurrently, so Redis round trips overlap.
    const taskId = session.role === "agent" && "taskId" in frame ? frame.taskId : undefined;
    if (taskId === undefined) {
      void this.runFrame(session, frame, undefined, undefined);
      return;
    }
    let chain = this.taskChains.get(taskId);
    if (!chain) {
      chain = { taskId, tail: undefined, frames: 0 };
      this.taskChains.set(taskId, chain);
    }
    chain.frames += 1;
    chain.tail = this.runFrame(session, frame, chain, chain.tail);
  }

  /**
   * Handles one frame, after the frames before it in its task's chain. One async function per frame,
   * never rejecting: an error goes back to the sender as an `error` frame.
   */
  private async runFrame(
    session: Session,
    frame: Message,
    chain: TaskChain | undefined,
    previous: Promise<void> | undefined,
  ): Promise<void> {
    this.underway.enter();
    try {
      if (previous) await previous;
      await this.handle(session, frame);
    } catch (error) {
      const failure = toFlotillaError(error);
      if (failure.code === "E_INTERNAL")
        this.log.error({ err: failure.message, type: frame.type }, "handler failed");
      this.sendError(session, failure, frame.id);
    } finally {
      if (chain) {
        chain.frames -= 1;
        if (chain.frames === 0 && this.taskChains.get(chain.taskId) === chain)
          this.taskChains.delete(chain.taskId);
      }
      this.underway.leave();
    }
  }

  private violation(session: Session, error: FlotillaError, replyTo: string | undefined): void {
    session.violations += 1;
    this.metrics.violations.inc({ code: error.code });
    this.sendError(session, error, replyTo);
    if (session.violations >= this.options.maxViolations) {
      this.log.warn(
        { session: session.label, violations: session.violations },
        "closing a misbehaving connection",
      );
      this.flush(session);
      session.socket.close(1008, "too many protocol violations");
    }
  }

  private onClose(session: Session): void {
    this.sessions.delete(session);
    session.outbox.clear();
    this.fanout.drop(session);
    if (session.role !== "agent" || session.nodeId === undefined) return;
    if (this.agentSessions.get(session.nodeId) !== session) return;
    this.agentSessions.delete(session.nodeId);
    const node = this.nodes.get(session.nodeId);
    if (!node || node.health === "dead") return;
    node.health = "suspect";
    node.disconnectedAt = this.options.clock();
    this.log.warn({ node: node.id }, "agent connection closed: node suspect");
  }

  private async handle(session: Session, frame: Message): Promise<void> {
    switch (frame.type) {
      case "agent.hello":
        return await this.onHello(session, frame);
      case "heartbeat":
        return await this.onHeartbeat(session, frame);
      case "agent.bye":
        return this.onBye(session);
      case "task.accept":
        return await this.onAccept(session, frame);
      case "task.reject":
        return await this.onReject(session, frame);
      case "task.output":
        return await this.onOutput(session, frame);
      case "task.progress":
        return this.onProgress(frame);
      case "task.finish":
        return await this.onFinish(session, frame);
      case "steal.request":
        return await this.steal(session.nodeId as string);
      case "task.submit": {
        const waiter = frame.wait === true ? session : undefined;
        const accepted = await this.submit(frame.spec, frame.from, waiter, frame.freshKey === true);
        const answer = this.frames.accepted(
          frame.id,
          accepted.taskId,
          accepted.duplicate,
          accepted.state,
          waiter !== undefined,
        );
        // Its task.done follows on this connection: a short task's comes before the hold is over, and the
        // client reads the two in one go.
        const holdMs = this.options.ackHoldMs;
        const held = waiter !== undefined && holdMs > 0 && session.outbox.hold(answer, holdMs);
        if (!held) this.sendRaw(session, answer);
        if (waiter && accepted.duplicate)
          await this.fanout.awaitExisting(waiter, accepted.taskId, accepted.state);
        return;
      }
      case "task.cancel":
        return this.reply(
          session,
          frame.id,
          await this.cancel(frame.taskId, frame.reason ?? "cancelled by request"),
        );
      case "task.watch":
        return await this.watch(session, frame.taskId, frame.fromSeq ?? 0, frame.id);
      case "task.unwatch":
        this.fanout.unwatch(session, frame.taskId);
        return this.reply(session, frame.id, { ok: true });
      case "task.get": {
        const task = await this.db.getTask(frame.taskId);
        if (!task) throw new FlotillaError("E_NOT_FOUND", `no task ${frame.taskId}`);
        return this.reply(session, frame.id, publicTask(task));
      }
      case "tasks.list":
        return this.reply(session, frame.id, { tasks: await this.listTasks(frame) });
      case "nodes.list":
        return this.reply(session, frame.id, { nodes: this.nodeListing() });
      case "events.watch":
        this.fanout.watchEverything(session);
        return this.reply(session, frame.id, { ok: true });
      case "node.drain":
      case "node.undrain":
        return this.reply(
          session,
          frame.id,
          await this.setDraining(frame.nodeId, frame.type === "node.drain"),
        );
      case "broadcast":
        return this.reply(session, frame.id, await this.broadcast(frame.message, frame.data, frame.from));
      case "direct":
        return this.reply(
          session,
          frame.id,
          await this.direct(frame.to, frame.message, frame.data, frame.from),
        );
      case "discovery.query":
        return this.send(session, "discovery.response", {
          replyTo: frame.id,
          nodes: discoverable(this.nodes.values(), frame.want?.capabilities),
        });
      case "dlq.list":
        return this.reply(session, frame.id, { entries: await this.dlqList() });
      case "dlq.get": {
        const task = await this.db.getTask(frame.taskId);
        if (task?.state !== "dead_lettered")
          throw new FlotillaError("E_NOT_FOUND", `${frame.taskId} is not dead-lettered`);
        return this.reply(session, frame.id, publicTask(task));
      }
      case "dlq.retry":
        return this.reply(session, frame.id, await this.dlqRetry(frame.taskId));
      case "dlq.purge":
        return this.reply(session, frame.id, await this.dlqPurge(frame.taskId));
      default:
        throw new FlotillaError("E_UNKNOWN_TYPE", `unexpected ${frame.type}`);
    }
  }

  // ---- sending ----

  private send<T extends MessageType>(session: Session, type: T, fields: MessageFields<T>): void {
    this.sendRaw(session, this.frames.frame(type, fields));
  }

  /**
   * Queues a frame for the session; all frames queued during one turn of the event loop leave in one
   * socket write (one syscall instead of one per frame, the largest cost on the hot path).
   */
  private sendRaw(session: Session, frame: string): void {
    session.outbox.push(frame);
  }

  private flush(session: Session): void {
    session.outbox.flush();
  }

  private reply(session: Session, replyTo: string, result: unknown): void {
    this.send(session, "reply", { replyTo, result });
  }

  private sendError(session: Session, error: FlotillaError, replyTo: string | undefined): void {
    this.sendRaw(session, this.frames.error(error, replyTo));
  }

  // ---- agents ----

  private async onHello(session: Session, hello: MessageOf<"agent.hello">): Promise<void> {
    const info = hello.node;
    if (hello.from !== info.id) {
      throw new FlotillaError("E_UNAUTHORIZED", `hello from ${hello.from} describes node ${info.id}`);
    }
    if (!this.authority.mayActAsNode(session.principal, info.id)) {
      this.violation(
        session,
        new FlotillaError("E_UNAUTHORIZED", `this token may not speak for node ${info.id}`),
        hello.id,
      );
      this.flush(session);
      session.socket.close(1008, "token does not match node");
      return;
    }
    const now = this.options.clock();
    session.clock.observe(Date.parse(hello.timestamp), now);
    const previous = this.agentSessions.get(info.id);
    if (previous && previous !== session) {
      this.agentSessions.delete(info.id);
      this.flush(previous);
      previous.socket.close(4000, "replaced by a newer connection of the same node");
    }
    let node = this.nodes.get(info.id);
    const wasDead = node?.health === "dead";
    if (!node) {
      node = newFleetNode(info.id, now);
      this.nodes.set(info.id, node);
    }
    node.host = info.host;
    node.version = info.version;
    node.fingerprint = info.fingerprint;
    node.labels = info.labels;
    node.capabilities = info.capabilities;
    node.slots = info.slots;
    node.prefetch = hello.prefetch ?? 0;
    node.handlers = new Set(hello.handlers);
    node.lastHeartbeatAt = now;
    node.disconnectedAt = undefined;
    node.status = "ready";
    session.nodeId = info.id;
    this.agentSessions.set(info.id, session);

    // Which of the runs the agent still holds are valid? Redis decides.
    const keep: { taskId: string; epoch: number }[] = [];
    const kill: { taskId: string; epoch: number }[] = [];
    const reported = new Map(hello.running.map((run) => [run.taskId, run.epoch]));
    const stored = await this.db.getTasks([
      ...new Set([...reported.keys(), ...(await this.db.runningIds(info.id))]),
    ]);
    const storedById = new Map(stored.map((task) => [task.id, task]));
    for (const [taskId, epoch] of reported) {
      const task = storedById.get(taskId);
      const valid =
        task !== undefined &&
        task.node === info.id &&
        task.epoch === epoch &&
        (ACTIVE_STATES as readonly string[]).includes(task.state);
      if (valid && task) {
        keep.push({ taskId, epoch });
        if (!this.leases.has(taskId)) {
          this.leases.set(taskId, {
            node: info.id,
            epoch,
            attempt: task.attempt,
            spec: task.spec as TaskSpec,
            leasedAt: Number(task.fields.leasedAt ?? now),
            startedAt: task.fields.startedAt ? Number(task.fields.startedAt) : undefined,
            confirming: undefined,
          });
        }
      } else {
        kill.push({ taskId, epoch });
      }
    }
    node.health = "healthy";
    this.send(session, "agent.welcome", {
      nodeId: info.id,
      heartbeatIntervalMs: this.options.heartbeatIntervalMs,
      deadAfterMs: this.options.deadAfterMs,
      keep,
      kill,
    });
    // Leases Redis holds for this node that the agent no longer has: lost in a crash. Requeue them.
    for (const task of stored) {
      if (
        task.node === info.id &&
        (ACTIVE_STATES as readonly string[]).includes(task.state) &&
        !reported.has(task.id)
      ) {
        await this.requeueLost(task, info.id, "the agent restarted without this run", now);
      }
    }
    node.inflight = this.countLeases(info.id);
    await this.writeRegistry(node, now);
    await this.redisClient.publish(
      this.keys.redis.discoveryAnnounce,
      JSON.stringify({
        from: info.id,
        type: "discovery.announce",
        timestamp: new Date(now).toISOString(),
        node: nodeSummary(node),
      }),
    );
    await this.publishFleetEvent(wasDead ? "node.rejoined" : "node.joined", info.id, now, {});
    this.log.info(
      { node: info.id, slots: info.slots, kept: keep.length, killed: kill.length },
      "agent joined",
    );
    this.lastWaitingSweep = 0;
    this.verifyQueue.add(info.id);
    await this.dispatch(info.id);
  }

  private async onHeartbeat(session: Session, beat: MessageOf<"heartbeat">): Promise<void> {
    const node = this.nodes.get(session.nodeId as string);
    if (!node) return;
    const now = this.options.clock();
    session.clock.observe(Date.parse(beat.timestamp), now);
    node.lastHeartbeatAt = now;
    node.capabilities = beat.capabilities;
    node.status = beat.status;
    if (beat.load) node.load = beat.load;
    if (node.health === "suspect" && this.agentSessions.get(node.id) === session) node.health = "healthy";
    // A run the agent still holds under an epoch that is no longer its lease: fenced, the agent kills it.
    for (const run of beat.running ?? []) {
      const lease = this.leases.get(run.taskId);
      if (!lease || lease.epoch !== run.epoch || lease.node !== node.id)
        this.fence(session, run.taskId, run.epoch);
    }
    const redis = this.redisClient;
    const legacy = JSON.stringify({
      from: node.id,
      type: "heartbeat",
      timestamp: beat.timestamp,
      capabilities: beat.capabilities,
      status: beat.status,
      ...(beat.load ? { load: beat.load } : {}),
    });
    await redis
      .multi()
      .set(this.keys.redis.agentHeartbeat(node.id), legacy, "PX", this.options.deadAfterMs)
      .hset(this.keys.redis.agent(node.id), "last_seen", new Date(now).toISOString(), "status", beat.status)
      .sadd(this.keys.redis.agentsActive, node.id)
      .exec();
    if (beat.status === "ready" && node.inflight < this.capacity(node)) {
      // Once a heartbeat, the queue in Redis is asked even when the count kept here says it is empty.
      this.verifyQueue.add(node.id);
      await this.dispatch(node.id);
    }
  }

  private onBye(session: Session): void {
    const node = this.nodes.get(session.nodeId as string);
    if (!node) return;
    node.status = "offline";
    node.draining = true;
    this.log.info({ node: node.id }, "agent said goodbye");
  }

  private async onAccept(session: Session, accept: MessageOf<"task.accept">): Promise<void> {
    const pending = this.confirmed(accept.taskId);
    if (pending) await pending;
    const now = this.options.clock();
    const stamp = Date.parse(accept.timestamp);
    session.clock.observe(stamp, now);
    const known = this.leases.get(accept.taskId);
    // An agent may send the accept a little after the start: it says how long the run has been going.
    const runningFor = accept.runningForMs ?? 0;
    const startedAt = Math.max(
      known?.epoch === accept.epoch ? known.leasedAt : 0,
      session.clock.toLocal(stamp - runningFor, now, now - runningFor),
    );
    const change: Transition = {
      expectedEpoch: accept.epoch,
      from: ["leased"],
      to: "running",
      fields: { startedAt },
      now,
    };
    // The lease's copy of the record stays in step: Redis sends the record if it was changed elsewhere.
    const record = known?.epoch === accept.epoch ? known.record : undefined;
    if (record) {
      change.returnTask = true;
      change.knownEvents = record.events;
    }
    const result = await this.db.transition(accept.taskId, change);
    if (!result.ok) {
      if (result.reason === "stale_epoch" || result.reason === "not_found")
        this.fence(session, accept.taskId, accept.epoch);
      else if (result.state !== "running") this.fence(session, accept.taskId, accept.epoch);
      return;
    }
    const lease = this.leases.get(accept.taskId);
    if (lease && lease.epoch === accept.epoch) {
      lease.startedAt = startedAt;
      // A copy found out of date is dropped: the finish reads the record back.
      if (record && lease.record === record) {
        lease.record = result.task
          ? undefined
          : { hash: applyTransition(record.hash, change, result), events: record.events + 1 };
      }
    }
    this.fanout.event(accept.taskId, result.eventJson, false);
  }

  /** Tells an agent its lease on a run is gone: kill it and send nothing more. */
  private fence(session: Session, taskId: string, epoch: number): void {
    this.metrics.fenced.inc();
    this.sendError(
      session,
      new FlotillaError(
        "E_STALE_EPOCH",
        `the lease on ${taskId} (epoch ${epoch}) is no longer valid: stop the run`,
        {
          details: { taskId, epoch },
        },
      ),
      undefined,
    );
  }

  private async onReject(session: Session, reject: MessageOf<"task.reject">): Promise<void> {
    const pending = this.confirmed(reject.taskId);
    if (pending) await pending;
    const nodeId = session.nodeId as string;
    const now = this.options.clock();
    const task = await this.db.getTask(reject.taskId);
    if (!task || task.epoch !== reject.epoch) return;
    const node = this.nodes.get(nodeId);
    if (reject.code === "E_QUEUE_FULL" && node !== undefined && node.prefetch > 0) {
      stopHoldingAhead(node, this.options.holdAheadMs);
    }
    const exclude = reject.code === "E_QUEUE_FULL" ? undefined : nodeId;
    const placement = this.place(task.spec as TaskSpec, now, exclude);
    const result = await this.db.transition(reject.taskId, {
      expectedEpoch: reject.epoch,
      from: ["leased", "running"],
      ...this.placementChange(placement, now),
      source: { kind: "set", key: this.keys.store.running(nodeId) },
      bumpEpoch: true,
      attemptDelta: -1,
      reason: `rejected by ${nodeId}: ${reject.reason}`,
      now,
    });
    this.releaseLease(reject.taskId, reject.epoch);
    this.settlePlacement(placement, result.ok);
    if (result.ok) this.fanout.event(reject.taskId, result.eventJson, false);
    if (reject.code === "E_HANDLER" || reject.code === "E_SPAWN") this.nodeFault(nodeId, now, reject.reason);
  }

  private async onOutput(session: Session, output: MessageOf<"task.output">): Promise<void> {
    const pending = this.confirmed(output.taskId);
    if (pending) await pending;
    const stored = await this.db.appendOutput(output.taskId, output.epoch, [output]);
    if (!stored) {
      this.fence(session, output.taskId, output.epoch);
      return;
    }
    // Watchers get what was stored: past the output cap nothing, and the cut chunk with its marker.
    const data = stored.whole === 1 ? output.data : stored.cut;
    if (data === undefined) return;
    this.fanout.output(output.taskId, () =>
      this.frames.frame("task.output", {
        taskId: output.taskId,
        epoch: output.epoch,
        stream: output.stream,
        seq: output.seq,
        data,
      }),
    );
  }

  private onProgress(progress: MessageOf<"task.progress">): void {
    this.fanout.progress(progress.taskId, () => {
      const fields: MessageFields<"task.progress"> = { taskId: progress.taskId, epoch: progress.epoch };
      if (progress.percent !== undefined) fields.percent = progress.percent;
      if (progress.message !== undefined) fields.message = progress.message;
      return this.frames.frame("task.progress", fields);
    });
  }

  private async onFinish(session: Session, finish: MessageOf<"task.finish">): Promise<void> {
    const pending = this.confirmed(finish.taskId);
    if (pending) await pending;
    const nodeId = session.nodeId as string;
    const now = this.options.clock();
    const stamp = Date.parse(finish.timestamp);
    session.clock.observe(stamp, now);
    let lease = this.leases.get(finish.taskId);
    const record = lease?.epoch === finish.epoch ? lease.record : undefined;
    if (!lease || lease.epoch !== finish.epoch) {
      const task = await this.db.getTask(finish.taskId);
      if (!task || task.epoch !== finish.epoch || task.node !== nodeId) {
        this.fence(session, finish.taskId, finish.epoch);
        return;
      }
      lease = {
        node: nodeId,
        epoch: task.epoch,
        attempt: task.attempt,
        spec: task.spec as TaskSpec,
        leasedAt: Number(task.fields.leasedAt ?? now),
        startedAt: task.fields.startedAt ? Number(task.fields.startedAt) : undefined,
        confirming: undefined,
      };
    }
    const spec = lease.spec;
    const nodeFault = finish.error?.code === "E_SPAWN";
    const retryOnExit =
      finish.outcome === "failed" &&
      finish.exitCode !== null &&
      spec.retry?.retryOn?.includes(finish.exitCode) === true;
    const retryable = finish.outcome === "failed" && (nodeFault || retryOnExit);
    const maxAttempts = spec.retry?.maxAttempts ?? (nodeFault ? DEFAULT_FAULT_ATTEMPTS : 1);
    // Dated by the agent's clock (the finish may have waited behind other work on its way here), and
    // never before the recorded start.
    const finishedAt = Math.max(lease.startedAt ?? 0, session.clock.toLocal(stamp, now, now));
    const fields: Record<string, string | number> = { finishedAt };
    // A run that ended before its agent sent the accept went straight from leased to its end. (Set one by
    // one: in V8, properties after a spread in one literal take a slow path.)
    if (lease.startedAt === undefined)
      fields.startedAt = Math.max(lease.leasedAt, finishedAt - finish.durationMs);
    fields.exitCode = finish.exitCode ?? "";
    fields.signal = finish.signal ?? "";
    fields.durationMs = finish.durationMs;
    if (finish.usage) fields.usage = JSON.stringify(finish.usage);
    if (finish.result !== undefined) fields.result = JSON.stringify(finish.result);
    if (finish.error) fields.error = JSON.stringify(finish.error);
    // Why a run did not succeed (a success records no reason).
    const reason =
      finish.outcome === "succeeded"
        ? ""
        : (finish.error?.message ??
          (finish.exitCode !== null ? `exit code ${finish.exitCode}` : `signal ${finish.signal}`));
    const source = { kind: "set" as const, key: this.keys.store.running(nodeId) };
    let change: Transition;
    if (retryable && lease.attempt < maxAttempts) {
      const backoff = this.backoffMs(spec, lease.attempt);
      change = {
        expectedEpoch: finish.epoch,
        from: ["leased", "running"],
        to: "waiting",
        node: null,
        source,
        target: { key: this.keys.store.delayed(), score: now + backoff },
        fields: {
          waitingReason: `retrying in ${backoff} ms after: ${reason}`,
          waitingIn: "delayed",
          avoidNode: nodeId,
        },
        attemptRecord: { attempt: lease.attempt, node: nodeId, reason, at: now },
        reason: `attempt ${lease.attempt} failed (${reason}); retrying`,
        now,
      };
    } else {
      const to = retryable ? "dead_lettered" : finish.outcome;
      change = {
        expectedEpoch: finish.epoch,
        from: ["leased", "running"],
        to,
        source,
        fields,
        reason,
        returnTask: this.fanout.awaited(finish.taskId),
        now,
      };
      if (to === "dead_lettered") {
        change.target = { key: this.keys.store.deadLetters(), score: now };
        change.attemptRecord = { attempt: lease.attempt, node: nodeId, reason, at: now };
      } else if (change.returnTask && record) {
        change.knownEvents = record.events;
      }
    }
    const result = await this.db.transition(finish.taskId, change);
    // Redis sent the record only if its copy differs from ours; otherwise ours, with this change, is it.
    if (result.ok && !result.task && change.knownEvents !== undefined && record) {
      result.task = decodeTask(applyTransition(record.hash, change, result));
    }
    if (!result.ok) {
      if (result.reason === "stale_epoch") this.fence(session, finish.taskId, finish.epoch);
      this.releaseLease(finish.taskId, finish.epoch);
      return;
    }
    this.releaseLease(finish.taskId, finish.epoch);
    const node = this.nodes.get(nodeId);
    if (node) {
      node.stats.finished += 1;
      if (finish.outcome === "succeeded" || finish.outcome === "failed") {
        node.ewmaRunMs =
          node.ewmaRunMs === undefined ? finish.durationMs : node.ewmaRunMs * 0.8 + finish.durationMs * 0.2;
      }
    }
    if (nodeFault) this.nodeFault(nodeId, now, reason);
    else this.nodeSuccess(nodeId, now);
    this.metrics.finished.inc({ outcome: change.to });
    if (change.to === "waiting") this.metrics.retries.inc();
    this.fanout.event(finish.taskId, result.eventJson, TERMINAL.has(change.to), result.task);
    if (nodeFault || change.to === "dead_lettered") {
      await this.recordFailure(finish.taskId, nodeId, reason, now);
    }
    await this.dispatch(nodeId);
  }

  private backoffMs(spec: TaskSpec, attempt: number): number {
    const base = spec.retry?.backoffMs ?? DEFAULT_BACKOFF_MS;
    const cap = spec.retry?.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS;
    const exponential = Math.min(cap, base * 2 ** Math.max(0, attempt - 1));
    // "Equal jitter": at least half the backoff, so retries never stampede yet never wait too little.
    return Math.round(exponential / 2 + (exponential / 2) * this.options.random());
  }

  private releaseLease(taskId: string, epoch: number): void {
    const lease = this.leases.get(taskId);
    if (!lease || lease.epoch !== epoch) return;
    this.leases.delete(taskId);
    const node = this.nodes.get(lease.node);
    if (node) node.inflight = Math.max(0, node.inflight - 1);
  }

  private countLeases(nodeId: string): number {
    let count = 0;
    for (const lease of this.leases.values()) if (lease.node === nodeId) count += 1;
    return count;
  }

  private nodeFault(nodeId: string, now: number, reason: string): void {
    const before = this.breakers.state(nodeId);
    this.breakers.recordFault(nodeId, now);
    this.breakerChanged(nodeId, before, reason, now);
  }

  private nodeSuccess(nodeId: string, now: number): void {
    const before = this.breakers.state(nodeId);
    this.breakers.recordSuccess(nodeId, now);
    this.breakerChanged(nodeId, before, "probe succeeded", now);
  }

  private breakerChanged(nodeId: string, before: string, reason: string, now: number): void {
    const after = this.breakers.state(nodeId);
    if (after === before) return;
    this.log.warn({ node: nodeId, from: before, to: after, reason }, "circuit breaker changed");
    this.guard(
      this.redisClient
        .multi()
        .set(this.keys.redis.breaker(nodeId), this.breakers.serialise(nodeId))
        .hset(this.keys.redis.agent(nodeId), "breaker", after)
        .exec(),
    );
    this.guard(this.publishFleetEvent("node.breaker", nodeId, now, { from: before, to: after, reason }));
    // Open: no new work, so what is queued there goes to nodes that can run it.
    if (after === "open") this.guard(this.evacuateQueue(nodeId, `circuit breaker of ${nodeId} open`));
  }

  // ---- routing and dispatch ----

  /**
   * Chooses where a task goes. `avoid` is the node a retry or requeue comes from: another node is preferred,
   * and the avoided one is used only when no other node can take the task.
   */
  private place(spec: TaskSpec, now: number, avoid?: string): Placement {
    const views = [];
    for (const node of this.nodes.values()) {
      views.push({ node, view: toNodeView(node, this.breakers.routingState(node.id, now)) });
    }
    let placement: Placement | undefined;
    if (avoid !== undefined) {
      const elsewhere = this.router.place(
        spec,
        views.filter((entry) => entry.node.id !== avoid),
        now,
      );
      if (elsewhere.kind === "node") placement = elsewhere;
    }
    placement ??= this.router.place(spec, views, now);
    // Count the task on its node at once, so decisions made before this write lands see it.
    if (placement.kind === "node") {
      const node = this.nodes.get(placement.node);
      if (node) {
        node.queued += 1;
        node.placing += 1;
      }
    }
    return placement;
  }

  /** The transition fields that put a task where `placement` says. */
  private placementChange(
    placement: Placement,
    now: number,
  ): Pick<Transition, "to" | "node" | "target" | "fields"> {
    if (placement.kind === "node") {
      return {
        to: "queued",
        node: placement.node,
        target: { key: this.keys.store.queue(placement.node), score: placement.score },
        fields: { queuedAt: now, waitingReason: "", waitingIn: "", score: placement.score },
      };
    }
    return {
      to: "waiting",
      node: null,
      target: { key: this.keys.store.waiting(), score: now },
      fields: { waitingReason: placement.reason, waitingIn: "waiting" },
    };
  }

  /** After the write for a placement: dispatch on success, give the reserved queue place back otherwise. */
  private settlePlacement(placement: Placement, written: boolean): void {
    if (placement.kind !== "node") return;
    const node = this.nodes.get(placement.node);
    if (node) this.placementLanded(node);
    if (written) {
      this.guard(this.dispatch(placement.node));
      return;
    }
    if (node) node.queued = Math.max(0, node.queued - 1);
  }

  private placementLanded(node: FleetNode): void {
    node.placing = Math.max(0, node.placing - 1);
    node.settled += 1;
  }

  private newTaskId(now: number): string {
    this.taskCounter = (this.taskCounter + 1) % 1_679_616;
    const random = Math.floor(this.options.random() * 1_679_616);
    return `t-${now.toString(36)}-${this.taskCounter.toString(36).padStart(4, "0")}${random.toString(36).padStart(4, "0")}`;
  }

  /**
   * Validates, persists (one Lua script) and queues a task; resolves only once Redis has it. When the
   * chosen node has a free slot and nothing queued, the same script leases it and the assignment goes out
   * at once. `waiter` is a connection to send `task.done` to when the task ends.
   */
  async submit(
    spec: TaskSpec,
    submitter: string,
    waiter?: Session,
    freshKey = false,
  ): Promise<{ taskId: string; duplicate: boolean; state: string }> {
    if (this.stopping)
      throw new FlotillaError("E_DRAINING", "the coordinator is shutting down; submit again shortly");
    const now = this.options.clock();
    if (spec.deadlineAt !== undefined && spec.deadlineAt <= now) {
      throw new FlotillaError("E_ADMISSION", "the deadline has already passed", {
        details: { deadlineAt: spec.deadlineAt },
      });
    }
    const id = this.newTaskId(now);
    const placement = this.place(spec, now);
    if (placement.kind === "full") {
      throw new FlotillaError(
        "E_QUEUE_FULL",
        `the fleet is saturated: ${placement.reason}; submit again later`,
      );
    }
    const maxWaitMs = spec.maxWaitMs ?? this.options.defaultMaxWaitMs;
    const fields: Record<string, string | number> = {
      id,
      spec: JSON.stringify(spec),
      state: placement.kind === "node" ? "queued" : "waiting",
      priority: spec.priority,
      epoch: 0,
      attempt: 0,
      maxAttempts: spec.retry?.maxAttempts ?? DEFAULT_FAULT_ATTEMPTS,
      createdAt: now,
      updatedAt: now,
      submitter: spec.submitter ?? submitter,
      maxWaitAt: now + maxWaitMs,
    };
    if (spec.ttlMs !== undefined) fields.expiresAt = now + spec.ttlMs;
    const event: Record<string, unknown> = { taskId: id, state: fields.state, at: now, attempt: 0, epoch: 0 };
    let score = now;
    if (placement.kind === "node") {
      fields.node = placement.node;
      fields.queuedAt = now;
      fields.score = placement.score;
      score = placement.score;
      event.node = placement.node;
    } else {
      fields.waitingReason = placement.reason;
      fields.waitingIn = "waiting";
      event.reason = placement.reason;
    }
    const eventJson = JSON.stringify(event);
    const direct = placement.kind === "node" ? this.leaseAtOnce(placement.node) : undefined;
    let leaseEvent: string | undefined;
    if (direct) {
      fields.state = "leased";
      fields.epoch = 1;
      fields.attempt = 1;
      fields.leasedAt = now;
      leaseEvent = JSON.stringify({
        taskId: id,
        state: "leased",
        previous: "queued",
        at: now,
        node: direct.node.id,
        attempt: 1,
        epoch: 1,
      });
    }
    if (waiter) this.fanout.await(waiter, id);
    let early: { confirm: () => void } | undefined;
    const write = this.db.submit({
      id,
      fields,
      idempotencyKey: spec.idempotencyKey,
      target: placement.kind === "node" ? { node: placement.node } : { waitingReason: placement.reason },
      score,
      event: eventJson,
      now,
      expiresAt: spec.ttlMs === undefined ? undefined : now + spec.ttlMs,
      leaseEvent,
      // Decided when the batch is written, from what went with it (see mayDispatchEarly).
      onWritten:
        direct && (spec.idempotencyKey === undefined || freshKey)
          ? (batchSize: number) => {
              if (batchSize === 1 && this.mayDispatchEarly())
                early = this.sendEarly(direct, id, spec, fields.spec as string, now);
            }
          : undefined,
    });
    this.underway.enter();
    let accepted: { taskId: string; duplicate: boolean; state: string };
    try {
      accepted = await write;
    } catch (error) {
      if (waiter) this.fanout.stopAwaiting(waiter, id);
      if (direct) this.releaseSlot(direct.node);
      if (direct) direct.node.leasing -= 1;
      this.settlePlacement(placement, false);
      this.dispatchEarly = false;
      if (direct && early) this.withdrawEarly(direct, id, early);
      throw error;
    } finally {
      this.underway.leave();
    }
    this.dispatchEarly = true;
    // ioredis writes an unanswered command again after a reconnect: the script then finds the task this
    // very submit wrote, which is its own success, not a duplicate (left as one, a task leased here
    // would sit in Redis with no agent told to run it).
    if (accepted.duplicate && accepted.taskId === id)
      accepted = { taskId: id, duplicate: false, state: accepted.state };
    this.metrics.submitted.inc({ priority: spec.priority, duplicate: String(accepted.duplicate) });
    if (accepted.duplicate && waiter) this.fanout.stopAwaiting(waiter, id);
    if (direct) direct.node.leasing -= 1;
    if (!direct || accepted.duplicate) {
      // An older task holds the key: a lease sent ahead (which a fresh key rules out) is taken back.
      if (direct && early) this.withdrawEarly(direct, id, early);
      if (direct) this.releaseSlot(direct.node);
      this.settlePlacement(placement, !accepted.duplicate);
      if (!accepted.duplicate) {
        this.submittedAt.set(id, now);
        this.fanout.event(id, eventJson, false);
      }
      return accepted;
    }
    // Leased in the same script: the task never sat in the queue, so a lease that was out meanwhile has
    // nothing of it to count (`settled` is for placements that went to the queue).
    direct.node.queued = Math.max(0, direct.node.queued - 1);
    direct.node.placing = Math.max(0, direct.node.placing - 1);
    if (early) this.sentEarly -= 1;
    else this.handOver(direct, id, spec, fields.spec as string, now, undefined);
    const lease = this.leases.get(id);
    if (waiter && lease?.epoch === 1) {
      // What the submit script wrote (nothing changes `fields` after it was sent), and the two events it
      // recorded (queued, leased).
      lease.record = { hash: fields, events: 2 };
    }
    this.metrics.dispatchLatency.observe(0);
    this.metrics.queueLatency.record(0);
    this.fanout.event(id, eventJson, false);
    this.fanout.event(id, leaseEvent as string, false);
    accepted.state = "leased";
    early?.confirm();
    return accepted;
  }

  /**
   * Whether a task leased in its submit script may go to its agent as soon as the script is written, not
   * once Redis has answered: Redis runs that script before anything the run's reports lead to (they wait
   * for the answer here, and go over the same connection), so the agent and Redis work at once and one
   * Redis round trip leaves the critical path of a short task. It is for tasks whose idempotency key
   * cannot name an older task (none, or one its client made for this submit and sends for the first time:
   * `freshKey`; otherwise the script may find an older task, and the run must not start), for one task at a
   * time, and stops after a failed write until a write succeeds again: a failed script means a run that
   * was started for nothing, stopped at once (a fence), and these bound how many. And it is only for a
   * submit that is the one call of its script batch, where it pays: when the coordinator is busy, the
   * round trip saved is shared by a batch's worth of tasks anyway, while an early lease costs a write
   * to its agent of its own (with early leases from busy batches too, call throughput fell by 4-20%).
   */
  private mayDispatchEarly(): boolean {
    return this.dispatchEarly && this.sentEarly === 0;
  }

  /** Records the first lease on a task leased in its submit script and sends it to the agent. */
  private handOver(
    direct: { node: FleetNode; session: Session },
    id: string,
    spec: TaskSpec,
    specJson: string,
    now: number,
    confirming: Promise<void> | undefined,
  ): void {
    this.leases.set(id, {
      node: direct.node.id,
      epoch: 1,
      attempt: 1,
      spec,
      leasedAt: now,
      startedAt: undefined,
      confirming,
    });
    this.sendRaw(direct.session, this.frames.assign(id, 1, 1, specJson, now));
  }

  /** Sends a lease whose submit script is on its way to Redis; see {@link mayDispatchEarly}. */
  private sendEarly(
    direct: { node: FleetNode; session: Session },
    id: string,
    spec: TaskSpec,
    specJson: string,
    now: number,
  ): { confirm: () => void } {
    let settle: () => void = () => {};
    const confirming = new Promise<void>((resolve) => {
      settle = resolve;
    });
    this.sentEarly += 1;
    this.handOver(direct, id, spec, specJson, now, confirming);
    // This runs while the script batch is written, itself the last thing of the turn: the outbox's own
    // flush would wait for the next turn, which starts by waiting for the very answer this saves.
    this.flush(direct.session);
    return {
      // After the caller has sent its answer (it does so in this same turn): the agent's reports on the
      // run come after the submit's.
      confirm: () => {
        const lease = this.leases.get(id);
        if (lease?.confirming === confirming) lease.confirming = undefined;
        setImmediate(settle);
      },
    };
  }

  /** Takes back a lease sent early whose submit failed or found an older task: the agent stops the run. */
  private withdrawEarly(
    direct: { node: FleetNode; session: Session },
    id: string,
    early: { confirm: () => void },
  ): void {
    this.sentEarly -= 1;
    const lease = this.leases.get(id);
    if (lease?.epoch === 1 && lease.confirming) this.leases.delete(id);
    this.fence(direct.session, id, 1);
    early.confirm();
  }

  /** Waits, when the lease on `taskId` went to its agent ahead of Redis's answer, until that answer is handled. */
  private confirmed(taskId: string): Promise<void> | undefined {
    return this.leases.get(taskId)?.confirming;
  }

  /**
   * Whether a task placed on `nodeId` can be leased in its submit script: the agent is connected and
   * healthy, it has room (counting what is being leased to it), and nothing is queued for it ahead of
   * this task, so queue order and the node's capacity hold. Reserves the room when it says yes.
   */
  private leaseAtOnce(nodeId: string): { node: FleetNode; session: Session } | undefined {
    const node = this.nodes.get(nodeId);
    const session = this.agentSessions.get(nodeId);
    if (!node || !session || node.health !== "healthy" || node.draining || this.stopping) return undefined;
    // `place` already counted this task in `queued`; others counted there that are being leased in their
    // own submit scripts are not in the queue, and reach the agent before this one. A dispatch under way
    // has its leases reserved: it pops only what was queued before this script runs.
    if (inQueue(node) > 1 || node.inflight + node.reserved >= this.capacity(node)) return undefined;
    if (this.breakers.admits(nodeId, this.options.clock()) !== "all") return undefined;
    node.inflight += 1;
    node.leasing += 1;
    return { node, session };
  }

  /** How many leases the node may hold now (its slots, and what its agent holds ahead for short tasks). */
  private capacity(node: FleetNode): number {
    return leaseCapacity(node, this.options.holdAheadMs);
  }

  private releaseSlot(node: FleetNode): void {
    node.inflight = Math.max(0, node.inflight - 1);
  }

  /** Leases what the node has room for and pushes assignments; at most one dispatch per node at a time. */
  private async dispatch(nodeId: string): Promise<void> {
    const state = this.dispatching.get(nodeId);
    if (state !== undefined) {
      this.dispatching.set(nodeId, "again");
      return;
    }
    this.dispatching.set(nodeId, "busy");
    try {
      for (;;) {
        this.dispatching.set(nodeId, "busy");
        await this.dispatchOnce(nodeId);
        if (this.dispatching.get(nodeId) !== "again") break;
      }
    } finally {
      this.dispatching.delete(nodeId);
    }
  }

  private async dispatchOnce(nodeId: string): Promise<void> {
    const node = this.nodes.get(nodeId);
    const session = this.agentSessions.get(nodeId);
    if (!node || !session || node.health !== "healthy" || node.draining || this.stopping) return;
    const now = this.options.clock();
    let free = this.capacity(node) - node.inflight;
    if (free <= 0) return;
    const admitted = this.breakers.admits(nodeId, now);
    if (admitted === "none") return;
    if (admitted === "probe") free = 1;
    // The count of queued tasks kept here follows every write that adds or removes one; when it says
    // the queue is empty, the lease script would pop nothing, so it is skipped (the heartbeat checks).
    if (inQueue(node) <= 0 && !this.verifyQueue.delete(nodeId)) {
      if (admitted === "all") await this.steal(nodeId);
      return;
    }
    this.verifyQueue.delete(nodeId);
    const settledBefore = node.settled;
    // Room for what this lease can pop, so submits meanwhile do not lease past the node's capacity: the
    // queue as counted here, but for tasks being leased in their own submit scripts. (A lease that only
    // checks an empty-looking queue reserves nothing.)
    node.reserved = Math.min(free, Math.max(0, inQueue(node)));
    let batch: LeaseBatch;
    try {
      batch = await this.db.lease(nodeId, free, now);
    } finally {
      node.reserved = 0;
    }
    const { leases, remaining } = batch;
    // The count is set again from what the script left, plus what may have landed after it ran: the
    // placements still being written, and those whose write came back while the lease was out. That
    // may count a few twice (the next lease puts it right), never too few: a count that fell short would
    // leave tasks in the queue with no dispatch to take them until the next heartbeat.
    node.queued = remaining + node.placing + (node.settled - settledBefore);
    if (leases.length === 0) {
      if (admitted === "all") await this.steal(nodeId);
      return;
    }
    if (admitted === "probe") {
      const before = this.breakers.state(nodeId);
      this.breakers.probeStarted(nodeId, now);
      this.breakerChanged(nodeId, before, "backoff over: one probe task", now);
    }
    for (const lease of leases) {
      const spec = JSON.parse(lease.specJson) as TaskSpec;
      this.leases.set(lease.taskId, {
        node: nodeId,
        epoch: lease.epoch,
        attempt: lease.attempt,
        spec,
        leasedAt: now,
        startedAt: undefined,
        confirming: undefined,
      });
      node.inflight += 1;
      const submitted = this.submittedAt.get(lease.taskId);
      if (submitted !== undefined) {
        this.metrics.dispatchLatency.observe((now - submitted) / 1000);
        this.metrics.queueLatency.record(now - submitted);
        this.submittedAt.delete(lease.taskId);
      }
      this.sendRaw(
        session,
        this.frames.assign(lease.taskId, lease.epoch, lease.attempt, lease.specJson, now, lease.seqFrom),
      );
      this.fanout.event(lease.taskId, lease.eventJson, false);
    }
  }

  /**
   * Work stealing: `thiefId` has free slots and an empty queue; move up to half of what it can run from the
   * most loaded eligible node's queue (one Lua script), then dispatch.
   */
  private async steal(thiefId: string): Promise<void> {
    const thief = this.nodes.get(thiefId);
    if (thief?.health !== "healthy" || thief.draining || thief.inflight >= thief.slots) return;
    const now = this.options.clock();
    const candidates = [...this.nodes.values()]
      .filter((node) => node.id !== thiefId && inQueue(node) > 0)
      .sort((a, b) => inQueue(b) - inQueue(a))
      .slice(0, 3);
    if (candidates.length === 0) return;
    const victims = [];
    for (const victim of candidates) {
      const ids = await this.db.queuedIds(victim.id, 64);
      const tasks = await this.db.getTasks(ids);
      victims.push({ victim, tasks });
    }
    const plan = this.router.planSteal(
      toNodeView(thief, this.breakers.routingState(thiefId, now)),
      victims.map(({ victim, tasks }) => ({
        node: toNodeView(victim, this.breakers.routingState(victim.id, now)),
        tasks: tasks.map((task) => ({
          id: task.id,
          spec: task.spec as TaskSpec,
          enqueuedAt: task.createdAt,
        })),
      })),
      thief.slots - thief.inflight,
    );
    if (!plan) return;
    const moved = await this.db.steal(plan.victim, thiefId, plan.taskIds, now);
    if (moved.length === 0) return;
    const victim = this.nodes.get(plan.victim);
    if (victim) victim.queued = Math.max(0, victim.queued - moved.length);
    thief.queued += moved.length;
    thief.stats.steals += moved.length;
    this.metrics.steals.inc(moved.length);
    this.log.debug({ thief: thiefId, victim: plan.victim, moved: moved.length }, "stole queued work");
    await this.dispatch(thiefId);
  }

  /** Periodic rebalance: migrates queued work from overloaded nodes to nodes with room. */
  private async rebalance(): Promise<void> {
    const now = this.options.clock();
    const live = [...this.nodes.values()].filter((node) => node.health === "healthy" && !node.draining);
    if (live.length > 1 && live.some((node) => node.queued > 0)) {
      const entries = [];
      for (const node of live) {
        const ids = node.queued > 0 ? await this.db.queuedIds(node.id, 64) : [];
        const tasks = await this.db.getTasks(ids);
        entries.push({
          node: toNodeView(node, this.breakers.routingState(node.id, now)),
          tasks: tasks.map((task) => ({
            id: task.id,
            spec: task.spec as TaskSpec,
            enqueuedAt: task.createdAt,
          })),
        });
      }
      const moves = new Map<string, string[]>();
      for (const migration of this.router.planRebalance(entries)) {
        const key = `${migration.from}\u0000${migration.to}`;
        moves.set(key, [...(moves.get(key) ?? []), migration.taskId]);
      }
      for (const [key, taskIds] of moves) {
        const [from, to] = key.split("\u0000") as [string, string];
        const moved = await this.db.steal(from, to, taskIds, now);
        const source = this.nodes.get(from);
        const target = this.nodes.get(to);
        if (source) source.queued = Math.max(0, source.queued - moved.length);
        if (target) target.queued += moved.length;
        this.metrics.migrations.inc(moved.length);
        if (moved.length > 0) await this.dispatch(to);
      }
    }
    for (const node of this.nodes.values()) {
      if (node.health === "healthy" && !node.draining && node.inflight < node.slots && node.queued === 0) {
        await this.steal(node.id);
      }
    }
    // Queued work on draining nodes goes elsewhere.
    for (const node of this.nodes.values()) {
      if (node.draining && node.queued > 0) await this.evacuateQueue(node.id, "node draining");
    }
  }

  // ---- failure detection, retries, waiting work ----

  private async sweep(): Promise<void> {
    const now = this.options.clock();
    for (const node of this.nodes.values()) {
      if (node.health === "dead") continue;
      const closedTooLong =
        node.disconnectedAt !== undefined && now - node.disconnectedAt >= this.options.suspectGraceMs;
      const silentTooLong = now - node.lastHeartbeatAt >= this.options.deadAfterMs;
      if (closedTooLong || silentTooLong) {
        await this.declareDead(
          node,
          closedTooLong ? "connection closed and not back" : "missed heartbeats",
          now,
        );
      }
    }
    await this.promoteDelayed(now);
    await this.expireDue(now);
    if (now - this.lastWaitingSweep >= 1000) {
      this.lastWaitingSweep = now;
      await this.sweepWaiting(now);
    }
    await this.retention?.sweep(now);
  }

  private async declareDead(node: FleetNode, why: string, now: number): Promise<void> {
    node.health = "dead";
    node.status = "offline";
    const detectMs = now - (node.disconnectedAt ?? node.lastHeartbeatAt);
    this.metrics.detections.observe(detectMs / 1000);
    const session = this.agentSessions.get(node.id);
    if (session) {
      this.agentSessions.delete(node.id);
      session.socket.terminate();
    }
    this.log.warn({ node: node.id, why, detectMs }, "node declared dead; requeueing its work");
    const redis = this.redisClient;
    await redis
      .multi()
      .srem(this.keys.redis.agentsActive, node.id)
      .hset(this.keys.redis.agent(node.id), "status", "offline")
      .del(this.keys.redis.agentHeartbeat(node.id))
      .exec();
    await this.publishFleetEvent("node.dead", node.id, now, { why, detectMs });
    const running = await this.db.runningIds(node.id);
    if (running.length > 0) this.nodeFault(node.id, now, `lost ${running.length} lease(s): ${why}`);
    const tasks = await this.db.getTasks(running);
    for (const task of tasks) await this.requeueLost(task, node.id, `node ${node.id} died (${why})`, now);
    node.inflight = 0;
    await this.evacuateQueue(node.id, `node ${node.id} died`);
  }

  /** A leased or running task whose node lost it: retry elsewhere, or dead-letter after the last attempt. */
  private async requeueLost(task: StoredTask, nodeId: string, reason: string, now: number): Promise<void> {
    const spec = task.spec as TaskSpec;
    const maxAttempts = spec.retry?.maxAttempts ?? DEFAULT_FAULT_ATTEMPTS;
    const source = { kind: "set" as const, key: this.keys.store.running(nodeId) };
    const attemptRecord = { attempt: Math.max(1, task.attempt), node: nodeId, reason, at: now };
    let change: Transition;
    let placement: Placement | undefined;
    if (task.fields.cancelRequested === "1") {
      change = {
        from: ["leased", "running"],
        to: "cancelled",
        source,
        fields: { finishedAt: now },
        reason,
        now,
      };
    } else if (task.attempt >= maxAttempts) {
      change = {
        from: ["leased", "running"],
        to: "dead_lettered",
        source,
        target: { key: this.keys.store.deadLetters(), score: now },
        fields: { finishedAt: now, error: JSON.stringify({ code: "E_NODE_UNAVAILABLE", message: reason }) },
        attemptRecord,
        reason,
        now,
      };
    } else {
      placement = this.place(spec, now, nodeId);
      change = {
        from: ["leased", "running"],
        ...this.placementChange(placement, now),
        source,
        attemptRecord,
        reason,
        now,
      };
    }
    change.expectedEpoch = task.epoch;
    change.bumpEpoch = true;
    const result = await this.db.transition(task.id, change);
    this.releaseLease(task.id, task.epoch);
    if (placement) this.settlePlacement(placement, result.ok);
    if (!result.ok) return;
    this.metrics.requeued.inc();
    const node = this.nodes.get(nodeId);
    if (node) node.stats.reroutes += 1;
    this.fanout.event(task.id, result.eventJson, TERMINAL.has(change.to));
    await this.recordFailure(task.id, nodeId, reason, now);
  }

  /** Moves every queued task of a node to other nodes (or the waiting list). */
  private async evacuateQueue(nodeId: string, reason: string): Promise<void> {
    const now = this.options.clock();
    const ids = await this.db.queuedIds(nodeId);
    const tasks = await this.db.getTasks(ids);
    for (const task of tasks) {
      const placement = this.place(task.spec as TaskSpec, now, nodeId);
      const result = await this.db.transition(task.id, {
        from: ["queued"],
        ...this.placementChange(placement, now),
        source: { kind: "zset", key: this.keys.store.queue(nodeId) },
        reason,
        now,
      });
      this.settlePlacement(placement, result.ok);
      if (!result.ok) continue;
      this.metrics.migrations.inc();
      this.fanout.event(task.id, result.eventJson, false);
    }
    const node = this.nodes.get(nodeId);
    if (node) node.queued = await this.redisClient.zcard(this.keys.store.queue(nodeId));
  }

  /** Retries whose backoff is over go back to routing. */
  private async promoteDelayed(now: number): Promise<void> {
    const due = await this.db.dueIds(this.keys.store.delayed(), now, 200);
    if (due.length === 0) return;
    for (const task of await this.db.getTasks(due)) {
      const placement = this.place(task.spec as TaskSpec, now, task.fields.avoidNode);
      const result = await this.db.transition(task.id, {
        from: ["waiting"],
        ...this.placementChange(placement, now),
        source: { kind: "zset", key: this.keys.store.delayed() },
        reason: "retry backoff over",
        now,
      });
      this.settlePlacement(placement, result.ok);
      if (result.ok) this.fanout.event(task.id, result.eventJson, false);
    }
  }

  /** Tasks whose TTL ran out before they were leased end as `expired`. */
  private async expireDue(now: number): Promise<void> {
    const due = await this.db.dueIds(this.keys.store.expiring(), now, 200);
    if (due.length === 0) return;
    for (const task of await this.db.getTasks(due)) {
      const reason = `not started within its TTL (${Number(task.fields.expiresAt) - task.createdAt} ms)`;
      await this.endUnstarted(task, "expired", { code: "E_TIMEOUT", message: reason }, now);
    }
    await this.redisClient.zrem(this.keys.store.expiring(), ...due);
  }

  /** Ends a task that is queued or waiting (never started): cancelled or expired. False if it moved on. */
  private async endUnstarted(
    task: StoredTask,
    to: "cancelled" | "expired",
    error: WireError,
    now: number,
  ): Promise<boolean> {
    if (task.state !== "queued" && task.state !== "waiting") return false;
    const sourceKey =
      task.state === "queued" && task.node
        ? this.keys.store.queue(task.node)
        : task.fields.waitingIn === "delayed"
          ? this.keys.store.delayed()
          : this.keys.store.waiting();
    const result = await this.db.transition(task.id, {
      from: [task.state],
      to,
      source: { kind: "zset", key: sourceKey },
      fields: { finishedAt: now, error: JSON.stringify(error) },
      reason: error.message,
      now,
    });
    if (!result.ok) return false;
    if (task.state === "queued" && task.node) {
      const node = this.nodes.get(task.node);
      if (node) node.queued = Math.max(0, node.queued - 1);
    }
    this.fanout.event(task.id, result.eventJson, true);
    return true;
  }

  /** Tasks no node could take: place them now if possible, fail them after their maxWait. */
  private async sweepWaiting(now: number): Promise<void> {
    const ids = await this.db.dueIds(this.keys.store.waiting(), Number.POSITIVE_INFINITY, 500);
    if (ids.length === 0) return;
    for (const task of await this.db.getTasks(ids)) {
      const placement = this.place(task.spec as TaskSpec, now);
      const source = { kind: "zset" as const, key: this.keys.store.waiting() };
      if (placement.kind === "waiting" && now >= Number(task.fields.maxWaitAt ?? Number.POSITIVE_INFINITY)) {
        const error: WireError = {
          code: "E_NODE_UNAVAILABLE",
          message: `no node could run this task within its maxWait: ${placement.reason}`,
          retryable: true,
        };
        const result = await this.db.transition(task.id, {
          from: ["waiting"],
          to: "failed",
          source,
          fields: { finishedAt: now, error: JSON.stringify(error) },
          reason: error.message,
          now,
        });
        if (result.ok) this.fanout.event(task.id, result.eventJson, true);
        continue;
      }
      if (placement.kind === "waiting") {
        if (placement.reason !== task.fields.waitingReason) {
          await this.redisClient.hset(this.keys.store.task(task.id), "waitingReason", placement.reason);
        }
        continue;
      }
      const result = await this.db.transition(task.id, {
        from: ["waiting"],
        ...this.placementChange(placement, now),
        source,
        reason: "a capable node is available",
        now,
      });
      this.settlePlacement(placement, result.ok);
      if (result.ok) this.fanout.event(task.id, result.eventJson, false);
    }
  }

  private async recordFailure(taskId: string, nodeId: string, reason: string, now: number): Promise<void> {
    const entry = JSON.stringify({
      taskId,
      node: nodeId,
      reason,
      at: now,
      timestamp: new Date(now).toISOString(),
    });
    await this.redisClient
      .multi()
      .rpush(this.keys.redis.taskFailures, entry)
      .ltrim(this.keys.redis.taskFailures, -10_000, -1)
      .publish(this.keys.redis.taskFailures, entry)
      .exec();
  }

  private async publishFleetEvent(
    type: string,
    nodeId: string,
    now: number,
    extra: Record<string, unknown>,
  ): Promise<void> {
    const event = JSON.stringify({
      from: "coordinator",
      type,
      node: nodeId,
      timestamp: new Date(now).toISOString(),
      ...extra,
    });
    await this.redisClient.publish(this.keys.redis.events, event);
    this.fanout.fleetEvent(() =>
      this.frames.frame("broadcast", { message: type, data: JSON.parse(event) as unknown }),
    );
  }

  // ---- client operations ----

  private async cancel(taskId: string, reason: string): Promise<unknown> {
    const now = this.options.clock();
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const task = await this.db.getTask(taskId);
      if (!task) throw new FlotillaError("E_NOT_FOUND", `no task ${taskId}`);
      if (TERMINAL.has(task.state)) {
        throw new FlotillaError("E_CONFLICT", `task ${taskId} already ended: ${task.state}`, {
          details: { state: task.state },
        });
      }
      if (task.state === "queued" || task.state === "waiting") {
        const ended = await this.endUnstarted(
          task,
          "cancelled",
          { code: "E_CANCELLED", message: reason },
          now,
        );
        if (ended) return { ok: true, state: "cancelled" };
        continue;
      }
      // Leased or running: the agent kills the process group and reports "cancelled".
      await this.redisClient.hset(this.keys.store.task(taskId), "cancelRequested", "1");
      const session = task.node ? this.agentSessions.get(task.node) : undefined;
      if (session) this.send(session, "task.cancel", { taskId, epoch: task.epoch, reason });
      return { ok: true, state: "cancelling" };
    }
    throw new FlotillaError("E_CONFLICT", `task ${taskId} kept changing state; try again`);
  }

  private async watch(session: Session, taskId: string, fromSeq: number, requestId: string): Promise<void> {
    // Register first: every change from here on is buffered while the stored part is read, so nothing
    // falls between the replay and the live stream (a change seen twice is dropped by the client).
    const watch = this.fanout.watch(session, taskId);
    // One round trip: the three reads are pipelined.
    const [task, chunks, latest] = await Promise.all([
      this.db.getTask(taskId),
      // A watcher that wants no stored output (fromSeq past any real sequence number) skips the read.
      fromSeq >= Number.MAX_SAFE_INTEGER ? Promise.resolve([]) : this.db.readOutput(taskId, fromSeq),
      this.redisClient.lindex(this.keys.store.taskEvents(taskId), -1),
    ]);
    if (!task) {
      this.fanout.unwatch(session, taskId);
      throw new FlotillaError("E_NOT_FOUND", `no task ${taskId}`);
    }
    this.reply(session, requestId, { ok: true, state: task.state });
    for (const chunk of chunks) {
      this.send(session, "task.output", {
        taskId,
        epoch: chunk.epoch ?? task.epoch,
        stream: chunk.stream,
        seq: chunk.seq,
        data: chunk.data,
      });
    }
    const eventJson =
      latest ?? JSON.stringify({ taskId, state: task.state, at: task.updatedAt, attempt: task.attempt });
    this.sendRaw(session, this.frames.event(eventJson));
    this.fanout.endReplay(watch);
    if (TERMINAL.has(task.state)) this.fanout.unwatch(session, taskId);
  }

  private async listTasks(filter: MessageOf<"tasks.list">): Promise<unknown[]> {
    const limit = filter.limit ?? 50;
    const ids = await this.db.recentTaskIds(filter.state || filter.node ? Math.max(limit * 20, 1000) : limit);
    const tasks = await this.db.getTasks(ids);
    return tasks
      .filter((task) => (filter.state ? task.state === filter.state : true))
      .filter((task) => (filter.node ? task.node === filter.node : true))
      .slice(0, limit)
      .map(publicTask);
  }

  /** Every node as `nodes.list` shows it. */
  private nodeListing(): NodeListing[] {
    const now = this.options.clock();
    return [...this.nodes.values()].map((node) =>
      nodeListing(node, this.breakers.routingState(node.id, now)),
    );
  }

  private async setDraining(nodeId: string, draining: boolean): Promise<unknown> {
    const node = this.nodes.get(nodeId);
    if (!node) throw new FlotillaError("E_NOT_FOUND", `no node ${nodeId} in the fleet`);
    node.draining = draining;
    await this.redisClient.hset(this.keys.redis.agent(nodeId), "draining", String(draining));
    await this.publishFleetEvent(
      draining ? "node.drained" : "node.undrained",
      nodeId,
      this.options.clock(),
      {},
    );
    if (draining) await this.evacuateQueue(nodeId, `node ${nodeId} drained`);
    else {
      this.lastWaitingSweep = 0;
      await this.dispatch(nodeId);
    }
    return { ok: true, nodeId, draining };
  }

  private async broadcast(text: string, data: unknown, from: string): Promise<unknown> {
    const receivers = await (this.bridges as RedisBridges).publishBroadcast(text, data, from);
    let agents = 0;
    for (const session of this.agentSessions.values()) {
      this.send(session, "broadcast", data === undefined ? { message: text } : { message: text, data });
      agents += 1;
    }
    return { ok: true, agents, redisSubscribers: receivers };
  }

  private async direct(to: string, text: string, data: unknown, from: string): Promise<unknown> {
    await (this.bridges as RedisBridges).publishDirect(to, text, data, from);
    const session = this.agentSessions.get(to);
    if (session)
      this.send(session, "direct", data === undefined ? { to, message: text } : { to, message: text, data });
    return { ok: true, delivered: session !== undefined };
  }

  private async dlqList(): Promise<unknown[]> {
    const tasks = await this.db.getTasks(await this.db.deadLetterIds(1000));
    return tasks.map((task) => {
      const attempts = parseJson<{ reason?: string }[]>(task.fields.attempts) ?? [];
      return {
        taskId: task.id,
        attempts: attempts.length,
        reason: attempts.at(-1)?.reason ?? "unknown",
        at: task.updatedAt,
      };
    });
  }

  private async dlqRetry(taskId: string): Promise<unknown> {
    const task = await this.db.getTask(taskId);
    if (task?.state !== "dead_lettered")
      throw new FlotillaError("E_NOT_FOUND", `${taskId} is not dead-lettered`);
    const now = this.options.clock();
    const placement = this.place(task.spec as TaskSpec, now);
    const result = await this.db.transition(taskId, {
      from: ["dead_lettered"],
      ...this.placementChange(placement, now),
      source: { kind: "zset", key: this.keys.store.deadLetters() },
      attemptDelta: -task.attempt,
      reason: "requeued from the dead-letter queue",
      now,
    });
    this.settlePlacement(placement, result.ok);
    if (!result.ok) throw new FlotillaError("E_CONFLICT", `${taskId} changed meanwhile`);
    this.fanout.event(taskId, result.eventJson, false);
    return { ok: true, taskId, state: placement.kind === "node" ? "queued" : "waiting" };
  }

  private async dlqPurge(taskId: string | undefined): Promise<unknown> {
    const ids = taskId === undefined ? await this.db.deadLetterIds() : [taskId];
    let purged = 0;
    for (const id of ids) if (await this.db.purgeDeadLetter(id)) purged += 1;
    if (taskId !== undefined && purged === 0)
      throw new FlotillaError("E_NOT_FOUND", `${taskId} is not dead-lettered`);
    return { ok: true, purged };
  }

  private writeRegistry(node: FleetNode, now: number): Promise<void> {
    const breaker = this.breakers.routingState(node.id, now);
    return (this.bridges as RedisBridges).writeRegistry(node, breaker, now, this.options.deadAfterMs);
  }

  // ---- metrics ----

  private refreshGauges(): void {
    const now = this.options.clock();
    this.metrics.observeNodes(
      [...this.nodes.values()].map((node) => ({
        id: node.id,
        load1: node.load?.load1 ?? 0,
        slotsUsed: slotsUsed(node),
        slotsTotal: node.slots,
        queued: queuedOn(node),
        healthy: node.health === "healthy",
        breakerOpen: this.breakers.routingState(node.id, now) === "open",
      })),
    );
  }

  private async writeFleetMetrics(): Promise<void> {
    this.refreshGauges();
    const kpis = this.metrics.fleetKpis([...this.nodes.values()].filter((node) => node.health === "healthy"));
    const flat: Record<string, string> = {};
    for (const [key, value] of Object.entries(kpis)) flat[key] = String(value);
    for (const node of this.nodes.values()) flat[`tasks:${node.id}`] = String(node.stats.finished);
    flat.updated_at = new Date(this.options.clock()).toISOString();
    await this.redisClient.hset(this.keys.redis.taskDistribution, flat);
  }
}

// ---- helpers ----

/** The `id` of a frame that parsed as JSON but failed validation, so the error can name its request. */
function frameId(data: RawFrame): string | undefined {
  try {
    const text = Array.isArray(data)
      ? Buffer.concat(data).toString("utf8")
      : Buffer.from(data as Buffer).toString("utf8");
    const id = (JSON.parse(text) as { id?: unknown }).id;
    return typeof id === "string" && id.length <= 128 ? id : undefined;
  } catch {
    return undefined;
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} (no answer in ${ms} ms)`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function rejectUpgrade(socket: Duplex, status: number, text: string): void {
  socket.write(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  socket.destroy();
}
