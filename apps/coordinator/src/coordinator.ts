/**
 * The server: `createCoordinator` builds the shared context and the modules of a task's path, wires them
 * together, and `start()` connects to Redis, listens for HTTP and WebSocket, and takes the fleet's
 * leadership lease. The coordinator holding it is the active one: it recovers the fleet from Redis and
 * serves agents and clients. Any other is a standby: it answers `/healthz` (role `standby`), refuses
 * WebSocket upgrades with 503 so agents and clients move on to the next URL they know, and takes over as
 * soon as the lease lapses (within its 5 s TTL of the active one's death). An active coordinator whose lease
 * another has taken stops (`onDeposed`; the binary then exits and its service manager starts it again,
 * as a standby). The server owns the Redis connection, the HTTP server, the role and the timers of the
 * background steps (the housekeeping sweep, the rebalance, the fleet metrics); a new periodic step gets its
 * timer in `becomeActive()` (or, on the sweep's cadence, a line in `Housekeeping.sweep`). It changes no
 * task or node itself.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer, type Server as TlsServer } from "node:https";
import { FlotillaError } from "@flotilla/protocol";
import { pino } from "pino";
import { FleetAlerts } from "./alerts.js";
import { Balancer } from "./balancing.js";
import { RedisBridges } from "./bridges.js";
import { ClientOps } from "./client-ops.js";
import { CoordinatorContext, type CoordinatorParts, errorMessage } from "./context.js";
import { findDashboardDir } from "./dashboard-files.js";
import { Dispatcher } from "./dispatch.js";
import { FailureDetector } from "./failure-detector.js";
import { discoverable, type FleetNode, queuedOn, slotsUsed } from "./fleet.js";
import { FleetEvents } from "./fleet-events.js";
import { FleetHistory } from "./history.js";
import { Housekeeping } from "./housekeeping.js";
import { type HttpApi, handleHttp, sendJson } from "./http.js";
import type { LossReason } from "./leadership.js";
import { McpEndpoint } from "./mcp-endpoint.js";
import { Membership } from "./membership.js";
import { NodeFaults } from "./node-faults.js";
import { type CoordinatorOptions, resolveOptions } from "./options.js";
import { TaskPlacement } from "./placement.js";
import { ProjectOps } from "./projects/project-ops.js";
import { recover } from "./recovery.js";
import { openRedis } from "./redis-connection.js";
import { redisEmptied } from "./redis-emptied.js";
import { type RedisSafety, startRedisSafety } from "./redis-safety.js";
import { RunReports } from "./run-reports.js";
import { TaskStore } from "./store.js";
import { Submitter } from "./submit.js";
import { loadTls, plainListenNotice } from "./tls.js";
import { Transport } from "./transport/transport.js";

/** A running coordinator. */
export interface Coordinator {
  /** Connects to Redis, recovers state, and starts listening. Rejects with a clear error when Redis is down. */
  start(): Promise<void>;
  /** Stops accepting, finishes in-flight Redis writes, closes every connection. */
  stop(): Promise<void>;
  /** The port it listens on (after `start`). */
  readonly port: number;
  /** `ws://host:port` for agents and clients, `wss://` with TLS (after `start`). */
  readonly url: string;
  /**
   * Reads the TLS certificate and key again (SIGHUP): new connections get the new ones. A file that cannot
   * be read or does not fit is logged and the old ones are kept; resolves to whether the new ones took.
   */
  reloadTls(): Promise<boolean>;
  /** `active` while it holds the leadership lease, else `standby` (after `start`). */
  readonly role: "active" | "standby";
  /** Test and demo access to internals that are otherwise only visible through Redis and metrics. */
  readonly inspect: {
    nodes(): readonly FleetNode[];
    metrics(): Promise<string>;
  };
}

/** Builds a coordinator. Nothing happens until `start()`. */
export function createCoordinator(options: CoordinatorOptions): Coordinator {
  return new CoordinatorServer(options);
}

/** Builds the modules of a task's path around `ctx`; each gets the others it calls through `parts`. */
function wireParts(ctx: CoordinatorContext): CoordinatorParts {
  const parts = {} as { -readonly [K in keyof CoordinatorParts]: CoordinatorParts[K] };
  parts.events = new FleetEvents(ctx);
  parts.placement = new TaskPlacement(ctx, parts);
  parts.dispatch = new Dispatcher(ctx, parts);
  parts.submit = new Submitter(ctx, parts);
  parts.reports = new RunReports(ctx, parts);
  parts.membership = new Membership(ctx, parts);
  parts.detector = new FailureDetector(ctx, parts);
  parts.faults = new NodeFaults(ctx, parts);
  parts.projects = new ProjectOps(ctx, parts);
  parts.housekeeping = new Housekeeping(ctx, parts);
  parts.balancing = new Balancer(ctx, parts);
  parts.clientOps = new ClientOps(ctx, parts);
  parts.history = new FleetHistory(ctx);
  parts.alerts = new FleetAlerts(ctx, parts);
  return parts;
}

class CoordinatorServer implements Coordinator {
  private readonly ctx: CoordinatorContext;
  private readonly parts: CoordinatorParts;
  private readonly transport: Transport;
  private server: Server | TlsServer | undefined;
  private safety: RedisSafety | undefined;
  /** Settles once this coordinator is active: recovered, serving, its timers running. */
  private activation: Promise<void> | undefined;
  private timers: NodeJS.Timeout[] = [];
  private listeningPort = 0;
  /** The certificate served, for the `/mcp` endpoint's clients of this coordinator. */
  private servedCert: string | undefined;
  private readonly mcp = new McpEndpoint({ url: () => this.url, ca: () => this.servedCert });

  constructor(options: CoordinatorOptions) {
    this.ctx = new CoordinatorContext(resolveOptions(options, pino({ level: "silent" })));
    this.parts = wireParts(this.ctx);
    this.transport = new Transport(this.ctx, this.parts);
  }

  get port(): number {
    return this.listeningPort;
  }

  get role(): "active" | "standby" {
    return this.ctx.role;
  }

  get url(): string {
    const host =
      this.ctx.options.host === "0.0.0.0" || this.ctx.options.host === "::"
        ? "127.0.0.1"
        : this.ctx.options.host;
    return `${this.ctx.options.tls ? "wss" : "ws"}://${host}:${this.listeningPort}`;
  }

  async reloadTls(): Promise<boolean> {
    const files = this.ctx.options.tls;
    const server = this.server;
    if (!files || !server || !("setSecureContext" in server)) return false;
    try {
      server.setSecureContext(await loadTls(files));
    } catch (error) {
      this.ctx.log.error({ err: errorMessage(error) }, "TLS reload failed; keeping the certificate in use");
      return false;
    }
    this.ctx.log.info("TLS certificate and key reloaded");
    return true;
  }

  readonly inspect = {
    nodes: (): readonly FleetNode[] => [...this.ctx.nodes.values()],
    metrics: (): Promise<string> => this.ctx.metrics.render(),
  };

  async start(): Promise<void> {
    const ctx = this.ctx;
    const options = ctx.options;
    // Read before Redis is touched: a missing or broken certificate stops the start with nothing to undo.
    const secure = options.tls ? await loadTls(options.tls) : undefined;
    this.servedCert = secure?.cert === undefined ? undefined : String(secure.cert);
    const redis = await openRedis(options.redisUrl, options.redisConnection, ctx.log);
    ctx.redis = redis;
    ctx.store = new TaskStore(redis, ctx.keys.store, {
      idempotencyTtlSeconds: options.idempotencyTtlSeconds,
      outputCap: options.outputCap,
      maxOutputBytes: options.maxOutputBytes,
      maxWaiting: options.maxWaiting,
      waitReplicas: options.redisWaitReplicas,
    });
    await ctx.store.preload();
    redis.on("ready", () => ctx.guard(ctx.db.preload()));
    const store = ctx.store;
    const safety = {
      redis,
      keys: ctx.keys,
      store,
      log: ctx.log,
      requireDurable: options.requireDurable,
      onEmptied: (found: { expected: string; found: string | null }) =>
        ctx.guard(redisEmptied(ctx, this.parts, this.redisSafety(), this.closeSessions, found)),
    };
    this.safety = await startRedisSafety(safety).catch((error: unknown) => {
      redis.disconnect();
      throw error;
    });

    const api = this.httpApi();
    const onRequest = (request: IncomingMessage, response: ServerResponse): void => {
      handleHttp(api, request, response).catch((error: unknown) => {
        ctx.log.error({ err: errorMessage(error) }, "http handler failed");
        if (!response.headersSent) sendJson(response, 500, { code: "E_INTERNAL", message: "internal error" });
      });
    };
    if (!secure) ctx.log.warn(plainListenNotice(options.insecureListen));
    const server = secure ? createTlsServer(secure, onRequest) : createServer(onRequest);
    this.server = server;
    this.transport.attach(server);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port, options.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const address = server.address();
    this.listeningPort = typeof address === "object" && address !== null ? address.port : options.port;
    const { leadership } = this.redisSafety();
    leadership.on("elected", () => {
      if (ctx.role === "standby" && !ctx.stopping) ctx.guard(this.activate());
    });
    leadership.on("lost", (reason) => this.leadershipLost(reason));
    if (await leadership.acquire()) await this.activate();
    else {
      const holder = await leadership.observe();
      ctx.log.warn(
        { active: holder?.coordinatorId },
        "standby: another coordinator is active; taking over when its lease lapses",
      );
    }
    leadership.start();
  }

  /** Becomes the active coordinator (once): recovers the fleet from Redis, then serves and sweeps. */
  private activate(): Promise<void> {
    this.activation ??= this.becomeActive();
    return this.activation;
  }

  private async becomeActive(): Promise<void> {
    const ctx = this.ctx;
    const options = ctx.options;
    const now = options.clock;
    const redis = ctx.redisClient;
    await this.countTasks();
    const orphans = await recover(ctx, now());
    ctx.bridges = new RedisBridges(redis, ctx.keys.redis, {
      direct: (nodeId, relayed) => {
        const session = ctx.sessions.agent(nodeId);
        if (session) ctx.out.send(session, "direct", { to: nodeId, ...relayed });
      },
      broadcast: (relayed) => {
        for (const session of ctx.sessions.agentSessions()) ctx.out.send(session, "broadcast", relayed);
      },
      discover: (want) => discoverable(ctx.nodes.values(), want),
      now: () => options.clock(),
      guard: (work) => ctx.guard(work),
      onConnectionError: (error) => ctx.log.debug({ err: error.message }, "subscriber connection problem"),
    });
    await ctx.bridges.start();
    // Left out of `agents:active` with work still theirs: a declaration of their death was cut short.
    for (const node of orphans)
      await this.parts.detector.declareDead(node, "its declaration as dead was interrupted", now());
    ctx.role = "active";
    const { housekeeping, balancing } = this.parts;
    this.timers.push(setInterval(() => ctx.guard(housekeeping.sweep()), options.sweepIntervalMs));
    this.timers.push(setInterval(() => ctx.guard(balancing.rebalance()), options.rebalanceIntervalMs));
    this.timers.push(setInterval(() => ctx.guard(this.writeFleetMetrics()), 5000));
    const { history, alerts } = this.parts;
    this.timers.push(setInterval(() => ctx.guard(history.sample(now())), options.historyIntervalMs));
    this.timers.push(setInterval(() => ctx.guard(alerts.evaluate(now())), options.alertIntervalMs));
    for (const timer of this.timers) timer.unref();
    ctx.log.info("leadership: this coordinator is the active one");
    options.onRoleChange?.("active");
  }

  /**
   * Sets the tally of tasks by state (`/metrics`) from one census of Redis, before this coordinator
   * changes anything; from then on the store keeps it from its scripts' replies.
   */
  private async countTasks(): Promise<void> {
    const ctx = this.ctx;
    const redis = ctx.redisClient;
    const [active, known] = await Promise.all([
      redis.smembers(ctx.keys.redis.agentsActive),
      redis.smembers(ctx.keys.nodesKnown),
    ]);
    ctx.db.tally.reset(await ctx.db.census([...new Set([...active, ...known])]));
  }

  /** What a lost leadership lease means here (see the module header). */
  private leadershipLost(reason: LossReason): void {
    const ctx = this.ctx;
    if (reason === "released" || ctx.stopping) return;
    if (reason === "vanished") {
      // The lease and its counter are gone with the rest of Redis's data: a new term, at once.
      ctx.guard(this.redisSafety().leadership.seize());
      return;
    }
    if (reason === "expired") {
      ctx.log.warn(
        "leadership: not renewed within its TTL (Redis unreachable?); keeping on unless another took it",
      );
      return;
    }
    if (ctx.role !== "active") return;
    ctx.log.error("leadership: another coordinator took over; this one stops");
    this.stop().then(
      () => ctx.options.onRoleChange?.("deposed"),
      (error: unknown) => ctx.log.error({ err: errorMessage(error) }, "stopping after deposition failed"),
    );
  }

  private redisSafety(): RedisSafety {
    if (!this.safety) throw new FlotillaError("E_INTERNAL", "coordinator not started");
    return this.safety;
  }

  private readonly closeSessions = (code: number, reason: string): void =>
    this.transport.closeSessions(code, reason);

  async stop(): Promise<void> {
    const ctx = this.ctx;
    if (ctx.stopping) return;
    ctx.stopping = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    this.parts.alerts.close();
    const closed = new Promise<void>((resolve) => {
      if (!this.server) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections?.();
    });
    this.mcp.close();
    // The server's close waits for every socket, and upgraded ones are not among those it closes itself.
    this.transport.close();
    await closed;
    await ctx.underway.idle();
    ctx.bridges?.stop();
    await this.safety?.stop();
    if (ctx.redis) await ctx.redis.quit().catch(() => ctx.redis?.disconnect());
  }

  /** What the HTTP endpoints (`http.ts`) may see and do. */
  private httpApi(): HttpApi {
    const ctx = this.ctx;
    return {
      role: () => ctx.role,
      health: () => ({
        redis: ctx.redis?.status ?? "none",
        healthyNodes: [...ctx.nodes.values()].filter((node) => node.health === "healthy").length,
        role: ctx.role,
        ...(ctx.redisEmptiedAt === undefined
          ? {}
          : {
              problem: `Redis was emptied or replaced at ${new Date(ctx.redisEmptiedAt).toISOString()} (generation changed): the work it held is lost; restart the coordinator once this is understood`,
            }),
      }),
      metrics: async () => {
        this.refreshGauges();
        ctx.metrics.observeCensus(ctx.db.tally.census());
        return { contentType: ctx.metrics.contentType, body: await ctx.metrics.render() };
      },
      authenticate: (token) => ctx.authority.authenticate(token),
      metricsPublic: ctx.options.metricsPublic,
      maxBodyBytes: ctx.options.maxFrameBytes,
      submit: (spec, submitter) => this.parts.submit.submit(spec, submitter),
      getTask: (id) => ctx.db.getTask(id),
      mcp: (principal, token, request, response) => this.mcp.handle(principal, token, request, response),
      dashboardDir: findDashboardDir(ctx.options.dashboardDir),
    };
  }

  private refreshGauges(): void {
    const ctx = this.ctx;
    const now = ctx.options.clock();
    ctx.metrics.observeNodes(
      [...ctx.nodes.values()].map((node) => ({
        id: node.id,
        load1: node.load?.load1 ?? 0,
        slotsUsed: slotsUsed(node),
        slotsTotal: node.slots,
        queued: queuedOn(node),
        healthy: node.health === "healthy",
        breakerOpen: ctx.breakers.routingState(node.id, now) === "open",
      })),
    );
  }

  /** Every 5 s: the fleet KPIs in the `metrics:task_distribution` hash. */
  private async writeFleetMetrics(): Promise<void> {
    const ctx = this.ctx;
    this.refreshGauges();
    const kpis = ctx.metrics.fleetKpis([...ctx.nodes.values()].filter((node) => node.health === "healthy"));
    const flat: Record<string, string> = {};
    for (const [key, value] of Object.entries(kpis)) flat[key] = String(value);
    for (const node of ctx.nodes.values()) flat[`tasks:${node.id}`] = String(node.stats.finished);
    flat.updated_at = new Date(ctx.options.clock()).toISOString();
    await ctx.redisClient.hset(ctx.keys.redis.taskDistribution, flat);
  }
}
