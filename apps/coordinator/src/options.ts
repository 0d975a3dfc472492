import { CLAIM_LEASE_BOUNDS_MS, DEFAULT_CLAIM_LEASE_MS, fleetHashTag, redactUrl } from "@flotilla/protocol";
import type { Logger } from "pino";
import { type AlertThresholds, checkAlertThresholds, DEFAULT_ALERT_THRESHOLDS } from "./alert-rules.js";
import type { TokenEntry } from "./auth.js";
import type { RedisConnectionSettings } from "./redis-connection.js";
import { defaultSecretKeyFile } from "./secrets.js";
import { isLoopback, type TlsFiles } from "./tls.js";

/** Settings of a coordinator. Only `redisUrl` and a token (`token` or `tokens`) are required. */
export interface CoordinatorOptions {
  /** Redis holding the fleet's state, e.g. `redis://127.0.0.1:6379`. */
  redisUrl: string;
  /** TLS material (for a `rediss://` URL) and the ACL user and password; these beat the URL's. */
  redisConnection?: RedisConnectionSettings;
  /**
   * Fleet token, an `admin` token named `fleet`: clients and agents present tokens as `Authorization:
   * Bearer <token>`.
   */
  token?: string;
  /** Per-node tokens (`agent:<id>` scope, named `<id>`): a node listed here can only connect with its own. */
  nodeTokens?: Record<string, string>;
  /** Scoped tokens, as a token file lists them (SHA-256 hashes, never the tokens). */
  tokens?: TokenEntry[];
  /** Serve `GET /metrics` without a token (default false: a `read`, `submit` or `admin` token is needed). */
  metricsPublic?: boolean;
  /**
   * Each acknowledged state change waits (Redis `WAIT`) until this many replicas hold it (default 0: the
   * primary alone). With Sentinel, what a failover can lose is then only what no client was told of.
   */
  redisWaitReplicas?: number;
  /**
   * Key prefix so two fleets can share one Redis ("" = none). On a Redis Cluster it must hold a hash tag
   * (`{fleet}`): the fleet's keys then share one slot, which its scripts need.
   */
  prefix?: string;
  /** TCP port (default 7420; 0 picks a free one). */
  port?: number;
  /**
   * Interface to listen on: all interfaces with `tls` or `insecureListen`, else 127.0.0.1 only (default).
   * Any other interface without one of them is refused.
   */
  host?: string;
  /** Serve `https://` and `wss://` with this certificate and key (PEM text or file paths; reloaded by `reloadTls`). */
  tls?: TlsFiles;
  /** Listen beyond loopback without TLS, the fleet token then crossing the network in clear text. */
  insecureListen?: boolean;
  /** Agents heartbeat this often (default 1 s; existing bridges use 30 s). */
  heartbeatIntervalMs?: number;
  /** An agent silent this long is dead (default 4.5 s, so a fault is seen within 5 s whenever it strikes between heartbeats; existing bridges use 90 s). */
  deadAfterMs?: number;
  /** An agent whose connection closed and did not come back within this is dead (default 500 ms). */
  suspectGraceMs?: number;
  /** How often the failure detector, retry timer and waiting list are swept (default 100 ms). */
  sweepIntervalMs?: number;
  /**
   * How long an agent's claim on a project task lasts unless the agent updates the task (default 30 min);
   * a lapsed claim is given back by the sweep.
   */
  projectClaimLeaseMs?: number;
  /** Default strategy for general work (default `least_loaded`). */
  strategy?: string;
  /** Nodes whose 1-minute load average is at or above this are avoided (default 3.0). */
  loadThreshold?: number;
  /** The coordinator's own node: where general work goes when every node is over the threshold. */
  fallbackNode?: string;
  /** Frames larger than this are refused and the connection closed with 1009 (default 1 MiB). */
  maxFrameBytes?: number;
  /** How long a task no node can run waits before failing with E_NODE_UNAVAILABLE (default 5 min). */
  defaultMaxWaitMs?: number;
  /** Protocol violations a connection may make before it is closed with 1008 (default 20). */
  maxViolations?: number;
  /**
   * An agent that offers to hold assignments beyond its slots (`prefetch` in its hello) is leased about
   * this much work per slot ahead, by its tasks' smoothed run time (default 10 ms; 0 turns it off).
   */
  holdAheadMs?: number;
  /**
   * How long the answer to a submit that waits for its outcome (`task.accepted` of a `wait` submit) may
   * be held back so it leaves with the next frame to that client, usually the `task.done` of a short
   * task: the client then reads both at once (default 2 ms; 0 sends every answer at once).
   */
  ackHoldMs?: number;
  /** How often queued work is rebalanced from overloaded to underloaded nodes (default 2 s). */
  rebalanceIntervalMs?: number;
  /** A node's queue holds at most this many tasks; beyond, submits get E_QUEUE_FULL (default 10,000). */
  maxQueuePerNode?: number;
  /** Entries kept per task output stream (default 10,000 chunks). */
  outputCap?: number;
  /** How long an idempotency key is remembered (default 24 h). */
  idempotencyTtlSeconds?: number;
  /**
   * Refuse to start when Redis can lose or evict data (no append-only file, an evicting
   * `maxmemory-policy`, or settings that cannot be read); by default that is only a warning.
   */
  requireDurable?: boolean;
  /**
   * Output bytes kept per task, over all its attempts (default 16 MiB): the chunk that crosses it is cut
   * and ends with a marker saying so, and later output is dropped.
   */
  maxOutputBytes?: number;
  /** Tasks the waiting list (no node can take them yet) holds; beyond, submits get E_QUEUE_FULL (default 10,000). */
  maxWaiting?: number;
  /** How long a finished task (its record, events, output and index entries) is kept (default 7 days). */
  retentionMs?: number;
  /** Finished tasks kept at most; the oldest finished go first beyond it (default 100,000). */
  retentionMaxFinished?: number;
  /** How long a dead-lettered task is kept unless purged or retried first (default 30 days). */
  deadLetterRetentionMs?: number;
  /** Frames a connection may send per second, a second's worth at once (default 100,000; 0 = no limit). */
  maxFramesPerSecond?: number;
  /** Tasks one token may submit per second over WebSocket, a second's worth at once (default 50,000; 0 = no limit). */
  maxSubmitsPerSecond?: number;
  /** Connections open at once with one token; more are refused with HTTP 429 (default 1,000; 0 = no limit). */
  maxConnectionsPerToken?: number;
  /** Tasks one connection may watch at once (default 10,000; 0 = no limit). */
  maxWatchesPerConnection?: number;
  /**
   * Bytes that may wait unsent to one connection; a peer that reads slower than that is closed with
   * 1008 rather than buffered for without end (default 64 MiB; 0 = no limit).
   */
  maxBufferedBytes?: number;
  /**
   * Called when this coordinator becomes the active one (at start, or taking over as a standby), and
   * when it was deposed (another coordinator took the leadership lease; it has stopped by then).
   */
  onRoleChange?: (role: "active" | "deposed") => void;
  /**
   * The file holding the key that encrypts tasks' `secretEnv` in Redis (32 bytes, made with mode 0600
   * when missing; default `~/.flotilla/secret.key`). Every coordinator of a fleet, standbys included,
   * needs the same file.
   */
  secretKey?: string;
  /** Alert thresholds and timing (see `alert-rules.ts` for each default). */
  alerts?: Partial<AlertThresholds>;
  /** Where fired and resolved alerts are POSTed as JSON (none by default). */
  alertWebhookUrl?: string;
  /** How often the alert rules are evaluated (default 2 s). */
  alertIntervalMs?: number;
  /** How often a history sample is taken for charts (default 10 s). */
  historyIntervalMs?: number;
  /** How much history is kept, in minutes (default 15). */
  historyMinutes?: number;
  /** Structured logger (pino); a silent one by default. */
  logger?: Logger;
  /**
   * The built dashboard (`apps/dashboard`'s `dist`) served at `/`. Default: `dashboard/` beside the bundle,
   * where the package ships it, else the workspace's `apps/dashboard/dist`.
   */
  dashboardDir?: string;
  /** Clock, injectable for tests. */
  clock?: () => number;
  /** Randomness, injectable for tests. */
  random?: () => number;
}

const DAY_MS = 24 * 3600 * 1000;
/** Output bytes kept per task unless `maxOutputBytes` says otherwise. */
export const DEFAULT_MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

/** Options with every default filled in. */
export type ResolvedOptions = Required<
  Omit<
    CoordinatorOptions,
    | "token"
    | "nodeTokens"
    | "fallbackNode"
    | "logger"
    | "onRoleChange"
    | "redisConnection"
    | "tls"
    | "dashboardDir"
    | "alerts"
    | "alertWebhookUrl"
  >
> & {
  dashboardDir: string | undefined;
  alerts: AlertThresholds;
  alertWebhookUrl: string | undefined;
  token: string | undefined;
  redisConnection: RedisConnectionSettings;
  fallbackNode: string | undefined;
  tls: TlsFiles | undefined;
  onRoleChange: CoordinatorOptions["onRoleChange"];
  nodeTokens: Record<string, string>;
  logger: Logger;
};

/** Fills in defaults and checks ranges. */
export function resolveOptions(options: CoordinatorOptions, fallbackLogger: Logger): ResolvedOptions {
  const resolved: ResolvedOptions = {
    redisUrl: options.redisUrl,
    redisConnection: options.redisConnection ?? {},
    token: options.token,
    nodeTokens: options.nodeTokens ?? {},
    tokens: options.tokens ?? [],
    metricsPublic: options.metricsPublic ?? false,
    redisWaitReplicas: options.redisWaitReplicas ?? 0,
    prefix: options.prefix ?? "",
    port: options.port ?? 7420,
    host: options.host ?? (options.tls || options.insecureListen ? "0.0.0.0" : "127.0.0.1"),
    tls: options.tls,
    insecureListen: options.insecureListen ?? false,
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? 1000,
    deadAfterMs: options.deadAfterMs ?? 4500,
    suspectGraceMs: options.suspectGraceMs ?? 500,
    sweepIntervalMs: options.sweepIntervalMs ?? 100,
    projectClaimLeaseMs: options.projectClaimLeaseMs ?? DEFAULT_CLAIM_LEASE_MS,
    strategy: options.strategy ?? "least_loaded",
    loadThreshold: options.loadThreshold ?? 3,
    fallbackNode: options.fallbackNode,
    maxFrameBytes: options.maxFrameBytes ?? 1024 * 1024,
    defaultMaxWaitMs: options.defaultMaxWaitMs ?? 5 * 60_000,
    maxViolations: options.maxViolations ?? 20,
    rebalanceIntervalMs: options.rebalanceIntervalMs ?? 2000,
    holdAheadMs: options.holdAheadMs ?? 10,
    ackHoldMs: options.ackHoldMs ?? 2,
    outputCap: options.outputCap ?? 10_000,
    maxQueuePerNode: options.maxQueuePerNode ?? 10_000,
    idempotencyTtlSeconds: options.idempotencyTtlSeconds ?? 24 * 3600,
    requireDurable: options.requireDurable ?? false,
    maxOutputBytes: options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
    maxWaiting: options.maxWaiting ?? 10_000,
    retentionMs: options.retentionMs ?? 7 * DAY_MS,
    retentionMaxFinished: options.retentionMaxFinished ?? 100_000,
    deadLetterRetentionMs: options.deadLetterRetentionMs ?? 30 * DAY_MS,
    maxFramesPerSecond: options.maxFramesPerSecond ?? 100_000,
    maxSubmitsPerSecond: options.maxSubmitsPerSecond ?? 50_000,
    maxConnectionsPerToken: options.maxConnectionsPerToken ?? 1000,
    maxWatchesPerConnection: options.maxWatchesPerConnection ?? 10_000,
    maxBufferedBytes: options.maxBufferedBytes ?? 64 * 1024 * 1024,
    secretKey: options.secretKey ?? defaultSecretKeyFile(),
    alerts: checkAlertThresholds({ ...DEFAULT_ALERT_THRESHOLDS, ...definedOnly(options.alerts ?? {}) }),
    alertWebhookUrl: options.alertWebhookUrl,
    alertIntervalMs: options.alertIntervalMs ?? 2000,
    historyIntervalMs: options.historyIntervalMs ?? 10_000,
    historyMinutes: options.historyMinutes ?? 15,
    logger: options.logger ?? fallbackLogger,
    onRoleChange: options.onRoleChange,
    dashboardDir: options.dashboardDir,
    clock: options.clock ?? Date.now,
    random: options.random ?? Math.random,
  };
  if (!resolved.token && resolved.tokens.length === 0)
    throw new RangeError("a token is required (--token, --token-file, --tokens-file or FLOTILLA_TOKEN)");
  if (resolved.deadAfterMs <= resolved.heartbeatIntervalMs) {
    throw new RangeError("deadAfterMs must be longer than heartbeatIntervalMs");
  }
  if (!(resolved.holdAheadMs >= 0)) throw new RangeError("holdAheadMs must be 0 or more");
  if (!(resolved.ackHoldMs >= 0)) throw new RangeError("ackHoldMs must be 0 or more");
  const lease = resolved.projectClaimLeaseMs;
  if (!(lease >= CLAIM_LEASE_BOUNDS_MS.min && lease <= CLAIM_LEASE_BOUNDS_MS.max))
    throw new RangeError(
      `projectClaimLeaseMs must be between ${CLAIM_LEASE_BOUNDS_MS.min} and ${CLAIM_LEASE_BOUNDS_MS.max}`,
    );
  const limits = [
    "maxOutputBytes",
    "maxWaiting",
    "retentionMs",
    "retentionMaxFinished",
    "deadLetterRetentionMs",
    "maxFramesPerSecond",
    "maxSubmitsPerSecond",
    "maxConnectionsPerToken",
    "maxWatchesPerConnection",
    "maxBufferedBytes",
    "redisWaitReplicas",
  ] as const;
  for (const name of limits) {
    if (!(resolved[name] >= 0)) throw new RangeError(`${name} must be 0 or more`);
  }
  if (!resolved.tls && !resolved.insecureListen && !isLoopback(resolved.host)) {
    throw new RangeError(
      `listening on ${resolved.host} without TLS would send the fleet token in clear text: give --tls-cert and --tls-key (flotilla-coordinator init-tls makes them) or --insecure-listen`,
    );
  }
  for (const name of ["alertIntervalMs", "historyIntervalMs", "historyMinutes"] as const) {
    if (!(resolved[name] > 0)) throw new RangeError(`${name} must be above 0`);
  }
  if (resolved.alertWebhookUrl !== undefined && !/^https?:\/\//.test(resolved.alertWebhookUrl))
    throw new RangeError(
      `the alert webhook ${redactUrl(resolved.alertWebhookUrl)} is not an http:// or https:// URL`,
    );
  if (resolved.redisConnection.cluster?.length && fleetHashTag(resolved.prefix) === undefined) {
    throw new RangeError(
      `on a Redis Cluster every key of the fleet must share one hash tag: give a prefix holding one, such as --prefix "{fleet}" (got "${resolved.prefix}")`,
    );
  }
  if (resolved.redisConnection.cluster?.length && resolved.redisWaitReplicas > 0) {
    // WAIT counts the replicas of the connection it is sent on; a cluster client has one per primary.
    throw new RangeError(
      "--redis-wait-replicas works with one primary (a plain Redis or Sentinel), not with --redis-cluster",
    );
  }
  if (resolved.port < 0 || resolved.port > 65535)
    throw new RangeError(`port ${resolved.port} is out of range`);
  return resolved;
}

/** The fields of `values` that are set (an explicit `undefined` leaves the default in place). */
function definedOnly<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Partial<T>;
}
