/**
 * What every part of the coordinator shares, in one explicit object. `CoordinatorContext` holds the
 * settings, the services built once (metrics, frame writer, fan-out, breakers, router, outgoing frames),
 * the connections (`sessions`), the lease table, the fleet's nodes, and the Redis handles the server sets
 * at start. The references never change after construction (but for the Redis handles and `stopping`,
 * which only the server sets); the state behind them belongs to its owner: `SessionRegistry` and
 * `LeaseTable` change only through their methods, membership and recovery add nodes, and each module's
 * header says which `FleetNode` fields it changes. `CoordinatorParts` names the modules of a task's path,
 * so each module can say in its constructor which of the others it calls.
 */
import { FlotillaError, TERMINAL_STATES } from "@flotilla/protocol";
import type { Logger } from "pino";
import type { FleetAlerts } from "./alerts.js";
import { TokenAuthority } from "./auth.js";
import type { Balancer } from "./balancing.js";
import { BreakerRegistry } from "./breakers.js";
import type { RedisBridges } from "./bridges.js";
import type { ClientOps } from "./client-ops.js";
import type { Dispatcher } from "./dispatch.js";
import type { FailureDetector } from "./failure-detector.js";
import { TaskFanout } from "./fanout.js";
import type { FleetNode } from "./fleet.js";
import type { FleetEvents } from "./fleet-events.js";
import { FrameWriter } from "./frames.js";
import type { FleetHistory } from "./history.js";
import type { Housekeeping } from "./housekeeping.js";
import { InFlight } from "./inflight.js";
import { type CoordinatorKeys, coordinatorKeys } from "./keys.js";
import { LeaseTable } from "./lease-table.js";
import type { Membership } from "./membership.js";
import { CoordinatorMetrics } from "./metrics.js";
import type { NodeFaults } from "./node-faults.js";
import type { ResolvedOptions } from "./options.js";
import type { TaskPlacement } from "./placement.js";
import type { ProjectOps } from "./projects/project-ops.js";
import type { RedisClient } from "./redis-connection.js";
import { Router } from "./router.js";
import type { RunReports } from "./run-reports.js";
import { SecretBox } from "./secrets.js";
import type { TaskStore } from "./store.js";
import type { Submitter } from "./submit.js";
import { Outgoing } from "./transport/outgoing.js";
import { type Session, SessionRegistry } from "./transport/session.js";

/** States in which a task has ended for good. */
export const TERMINAL: ReadonlySet<string> = new Set(TERMINAL_STATES);
/** States in which a task is under a lease on a node. */
export const ACTIVE_STATES: readonly string[] = ["leased", "running"];

/** The modules along a task's path, wired by the server (`coordinator.ts`). */
export interface CoordinatorParts {
  readonly placement: TaskPlacement;
  readonly dispatch: Dispatcher;
  readonly submit: Submitter;
  readonly reports: RunReports;
  readonly membership: Membership;
  readonly detector: FailureDetector;
  readonly faults: NodeFaults;
  readonly housekeeping: Housekeeping;
  readonly balancing: Balancer;
  readonly clientOps: ClientOps;
  readonly events: FleetEvents;
  readonly history: FleetHistory;
  readonly alerts: FleetAlerts;
  readonly projects: ProjectOps;
}

/** The state and services the coordinator's modules share. */
export class CoordinatorContext {
  readonly keys: CoordinatorKeys;
  /** Who may connect, and as which node. */
  readonly authority: TokenAuthority;
  readonly log: Logger;
  readonly metrics = new CoordinatorMetrics();
  readonly frames: FrameWriter;
  /** Seals and opens tasks' `secretEnv` with the coordinator's key. */
  readonly secrets: SecretBox;
  readonly out: Outgoing;
  /** Who hears about each task: watchers, event watchers, submitters waiting for the outcome. */
  readonly fanout: TaskFanout<Session>;
  readonly breakers = new BreakerRegistry();
  readonly router: Router;
  /** Every node known, by id: membership (hello) and recovery add them; none is ever removed. */
  readonly nodes = new Map<string, FleetNode>();
  readonly sessions = new SessionRegistry();
  readonly leases: LeaseTable;
  /** Frames being handled, script writes and background steps: `stop()` waits for them. */
  readonly underway = new InFlight();
  /** Set by the server's `stop()`: no new connections, submits or leases. */
  stopping = false;
  /**
   * Whether this coordinator is the fleet's active one (it holds the leadership lease and serves agents and
   * clients) or a standby (it serves `/healthz` only and takes over when the lease lapses). The server sets it.
   */
  role: "standby" | "active" = "standby";
  /** When Redis was found emptied or replaced (see `redis-emptied.ts`); `/healthz` says so until a restart. */
  redisEmptiedAt: number | undefined = undefined;
  /** Set by the server at start. */
  redis: RedisClient | undefined = undefined;
  store: TaskStore | undefined = undefined;
  bridges: RedisBridges | undefined = undefined;

  constructor(readonly options: ResolvedOptions) {
    this.log = options.logger;
    this.keys = coordinatorKeys(options.prefix);
    this.authority = new TokenAuthority(options.token, options.nodeTokens, options.tokens);
    this.frames = new FrameWriter(options.clock);
    this.secrets = new SecretBox(options.secretKey);
    this.out = new Outgoing(this.frames, this.metrics);
    this.fanout = new TaskFanout(this.frames, {
      loadTask: (taskId) => this.db.getTask(taskId),
      guard: (work) => this.guard(work),
    });
    const routerOptions: ConstructorParameters<typeof Router>[0] = {
      strategy: options.strategy,
      loadThreshold: options.loadThreshold,
      random: options.random,
      maxQueuePerNode: options.maxQueuePerNode,
      fairShareQuantumMs: 1000,
    };
    if (options.fallbackNode !== undefined) routerOptions.fallbackNode = options.fallbackNode;
    this.router = new Router(routerOptions);
    this.leases = new LeaseTable(this.nodes);
  }

  /** The task store (after start). */
  get db(): TaskStore {
    if (!this.store) throw new FlotillaError("E_INTERNAL", "coordinator not started");
    return this.store;
  }

  /** The Redis connection (after start). */
  get redisClient(): RedisClient {
    if (!this.redis) throw new FlotillaError("E_INTERNAL", "coordinator not started");
    return this.redis;
  }

  /** The Redis bridges (after start). */
  get bridge(): RedisBridges {
    return this.bridges as RedisBridges;
  }

  /** Runs background work, logging instead of crashing, and tracks it so `stop()` can wait for it. */
  guard(work: Promise<unknown>): void {
    this.underway.enter();
    work.then(this.guardDone, this.guardFailed);
  }

  private readonly guardDone = (): void => this.underway.leave();
  private readonly guardFailed = (error: unknown): void => {
    this.log.error({ err: errorMessage(error) }, "background step failed");
    this.underway.leave();
  };
}

/** The error for a task Redis does not hold: never submitted, forgotten by retention, or lost with Redis's data. */
export function taskNotFound(ctx: CoordinatorContext, taskId: string): FlotillaError {
  const lost =
    ctx.redisEmptiedAt === undefined
      ? ""
      : ` (Redis was emptied or replaced at ${new Date(ctx.redisEmptiedAt).toISOString()}: what it held is gone)`;
  return new FlotillaError("E_NOT_FOUND", `no task ${taskId}${lost}`);
}

/** The message of anything thrown. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
