/**
 * The agent's options and what they resolve to: the public {@link AgentOptions}, {@link Agent} and
 * {@link StopOptions} types, the defaults ({@link Settings}) and the coordinator addresses. Nothing here
 * changes once the agent is created; what is measured at run time is `node-state.ts`.
 */
import { hostname } from "node:os";
import { FlotillaError, nodeIdFromHost, parseCoordinatorUrls } from "@flotilla/protocol";
import { type Logger, pino } from "pino";
import type { CallHandlers } from "../call.js";
import { prepareEnv } from "../exec.js";
import type { Fingerprint } from "../fingerprint.js";
import { DEFAULT_KILL_GRACE_MS } from "../run.js";
import type { Spawner } from "../spawner.js";

/** Options of `createAgent`. */
export interface AgentOptions {
  /**
   * `ws://host:port` of the coordinator; `/v1/agent` is appended. Several (an active coordinator and its
   * standbys) as a list or comma-separated: the agent tries them in turn and stays with the one that
   * welcomes it.
   */
  coordinatorUrl: string | readonly string[];
  /** Sent as `Authorization: Bearer <token>` on the upgrade. */
  token: string;
  /** PEM text of the private CA that signed a `wss://` coordinator's certificate (`--ca`). */
  ca?: string;
  /** The node id (default: the hostname, made id-safe). */
  id?: string;
  labels?: Record<string, string>;
  /** How many tasks run at once (default: logical cores). */
  slots?: number;
  /**
   * How many assignments the agent holds beyond its slots, to start the moment a slot frees up with no
   * round trip to the coordinator (default 64; 0 turns it off). The coordinator sends only about
   * `holdAheadMs` of work per slot ahead (10 ms by default), so many are held only for tiny tasks.
   */
  prefetch?: number;
  /**
   * How long a held assignment may wait for a slot before it is handed back (`task.reject` with
   * `E_QUEUE_FULL`) so the coordinator can place it again, expire it or let an idle node steal it
   * (default 100 ms).
   */
  maxHoldMs?: number;
  /**
   * How long a run goes before its `task.accept` is sent (default 20 ms; 0 sends it as the run starts).
   * A run that ends sooner sends only its finish, which saves the coordinator a Redis write and a wakeup
   * per short task; the accept carries `runningForMs`, so the recorded start time stays exact.
   */
  acceptDelayMs?: number;
  /** `call` handlers by name. */
  handlers?: CallHandlers;
  /** Heartbeat period until the coordinator's welcome says otherwise (default 1000). */
  heartbeatIntervalMs?: number;
  /** SIGTERM -> SIGKILL grace for cancelled and timed-out runs (default 10 s). */
  killGraceMs?: number;
  /** How long a graceful stop lets running tasks finish (default 30 s). */
  shutdownGraceMs?: number;
  /** How long `start()` keeps trying to reach the coordinator (default 10 s). */
  connectTimeoutMs?: number;
  /** Cores from which the node counts as heavy (default 8). */
  heavyCores?: number;
  /** Idle time with free slots before asking to steal work (default 200 ms). */
  stealIdleMs?: number;
  /** Minimum time between two steal requests (default 500 ms). */
  stealIntervalMs?: number;
  /**
   * Output kept per task while disconnected or while the socket is full; beyond it the oldest chunks are
   * dropped (default 8 MiB).
   */
  maxBufferedOutputBytes?: number;
  /** Unsent bytes the socket may hold before run messages queue in the agent instead (default 4 MiB). */
  maxSocketBufferBytes?: number;
  /** Reconnect backoff: full jitter over `min(cap, base * 2^n)` (default 100 ms, 5 s). */
  reconnectBaseMs?: number;
  reconnectCapMs?: number;
  /** Where tasks run by default and whose free disk is reported (default `process.cwd()`). */
  workDir?: string;
  /** JSON logger (default: pino to stderr). */
  logger?: Logger;
  /** Where `exec` processes are started (default: the shared spawn helper, see `HelperSpawner`). */
  spawner?: Spawner;
  /** Skips measuring the machine (tests, or a caller that already has one); then it is never refreshed. */
  fingerprint?: Fingerprint;
  /**
   * How often free disk and docker are measured again, so a docker engine started after the agent shows up
   * as a capability in the next heartbeat (default 60 s; 0 turns it off).
   */
  fingerprintRefreshMs?: number;
  /** Epoch-ms clock, for message timestamps and idle accounting (default `Date.now`). */
  clock?: () => number;
  /** Uniform [0, 1) source for backoff jitter (default `Math.random`). */
  random?: () => number;
  /** Called once when the agent gives up for good after having started (the token was rejected). */
  onFatal?: (error: FlotillaError) => void;
}

/** Options of {@link Agent.stop}. */
export interface StopOptions {
  /** Skip the grace period: cancel running tasks at once with SIGKILL. */
  now?: boolean;
}

/** A running node agent. */
export interface Agent {
  /** The node id it announces. */
  readonly id: string;
  /** Capabilities derived from the fingerprint and labels (empty before `start()`). */
  readonly capabilities: readonly string[];
  readonly slots: number;
  /** Tasks running now. */
  readonly slotsUsed: number;
  /** The measured fingerprint (undefined before `start()`). */
  readonly fingerprint: Fingerprint | undefined;
  /** Whether a welcomed session is open. */
  readonly connected: boolean;
  /** Resolves once the coordinator welcomed the agent; rejects with E_UNAUTHORIZED or E_COORDINATOR_UNAVAILABLE. */
  start(): Promise<void>;
  /** Graceful stop (see the README); a second call with `{ now: true }` cuts the grace short. */
  stop(options?: StopOptions): Promise<void>;
}

/**
 * Assignments offered to be held beyond the slots by default. The coordinator decides how many it sends
 * (about 10 ms of work per slot), so this bounds only the tiniest tasks: at 64, three agents of no-op
 * calls ran out of held work between refills and the fleet's cores were idle a fifth of the time.
 */
export const DEFAULT_PREFETCH = 256;

/** {@link AgentOptions} with every default filled in (slots and prefetch are known only at start). */
export interface Settings {
  readonly id: string;
  readonly token: string;
  readonly ca: string | undefined;
  readonly labels: Record<string, string>;
  readonly handlers: CallHandlers;
  readonly clock: () => number;
  readonly random: () => number;
  readonly logger: Logger;
  readonly killGraceMs: number;
  readonly shutdownGraceMs: number;
  readonly connectTimeoutMs: number;
  readonly stealIdleMs: number;
  readonly stealIntervalMs: number;
  readonly maxBufferedOutputBytes: number;
  readonly maxSocketBufferBytes: number;
  readonly reconnectBaseMs: number;
  readonly reconnectCapMs: number;
  readonly maxHoldMs: number;
  readonly acceptDelayMs: number;
  /** The coordinators' agent endpoints (`.../v1/agent`), tried in this order. */
  readonly endpoints: readonly string[];
  /** The environment every exec run starts from (the agent's, without its credential). */
  readonly taskEnv: ReturnType<typeof prepareEnv>;
  readonly workDir: string | undefined;
  readonly spawner: Spawner | undefined;
  readonly heavyCores: number | undefined;
  readonly options: AgentOptions;
}

/** This machine's hostname made a valid node id: an agent's id unless it is given one. */
export function defaultNodeId(): string {
  return nodeIdFromHost(hostname());
}

function agentEndpoint(url: string): string {
  const trimmed = url.replace(/\/+$/, "");
  return trimmed.endsWith("/v1/agent") ? trimmed : `${trimmed}/v1/agent`;
}

/**
 * The coordinator addresses of `coordinatorUrl`: a list, or one string of comma-separated addresses,
 * read and checked by protocol's `parseCoordinatorUrls` (the client and the CLI read them the same way).
 */
export function coordinatorUrls(coordinatorUrl: string | readonly string[]): string[] {
  return typeof coordinatorUrl === "string"
    ? parseCoordinatorUrls(coordinatorUrl)
    : coordinatorUrl.flatMap((url) => parseCoordinatorUrls(url));
}

/** Fills in the defaults of `options`. */
export function resolveSettings(options: AgentOptions): Settings {
  const endpoints = coordinatorUrls(options.coordinatorUrl).map(agentEndpoint);
  if (endpoints.length === 0) throw new FlotillaError("E_CONFIG", "no coordinator address given");
  // Tasks inherit the agent's environment, but not its credential; the value is also masked in output.
  // Prepared once: each run only adds its own env (and its secrets) to it.
  const { FLOTILLA_TOKEN: _agentToken, ...taskBaseEnv } = process.env;
  return {
    id: options.id ?? defaultNodeId(),
    token: options.token,
    ca: options.ca,
    labels: options.labels ?? {},
    handlers: options.handlers ?? {},
    clock: options.clock ?? Date.now,
    random: options.random ?? Math.random,
    logger: options.logger ?? pino({ name: "flotilla-agent" }, pino.destination(2)),
    killGraceMs: options.killGraceMs ?? DEFAULT_KILL_GRACE_MS,
    shutdownGraceMs: options.shutdownGraceMs ?? 30_000,
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    stealIdleMs: options.stealIdleMs ?? 200,
    stealIntervalMs: options.stealIntervalMs ?? 500,
    maxBufferedOutputBytes: options.maxBufferedOutputBytes ?? 8 * 1024 * 1024,
    maxSocketBufferBytes: options.maxSocketBufferBytes ?? 4 * 1024 * 1024,
    reconnectBaseMs: options.reconnectBaseMs ?? 100,
    reconnectCapMs: options.reconnectCapMs ?? 5_000,
    maxHoldMs: options.maxHoldMs ?? 100,
    acceptDelayMs: options.acceptDelayMs ?? 20,
    endpoints,
    taskEnv: prepareEnv(taskBaseEnv, [options.token]),
    workDir: options.workDir,
    spawner: options.spawner,
    heavyCores: options.heavyCores,
    options,
  };
}
