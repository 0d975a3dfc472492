import { connect, type FlotillaClient, type TaskHandle } from "@flotilla/client";
import {
  type LocalAgentSpec,
  type LocalFleet,
  type LocalFleetOptions,
  type RedisServer,
  startLocalFleet,
  startRedisServer,
} from "@flotilla/launcher";
import { createKeys, type RedisKeys, TERMINAL_STATES } from "@flotilla/protocol";
import { agentBin, coordinatorBin } from "@flotilla/testing";
import { Redis } from "ioredis";
import { TcpProxy } from "./proxy.js";
import { readRunLog, recordedSleep } from "./runlog.js";
import { type FleetEvent, faultTiming, leasesToUnavailableNodes, type TaskEvent } from "./timeline.js";

export type { FleetEvent, TaskEvent };

/**
 * The fault suite's fleet: a private Redis (optionally behind a {@link TcpProxy} for the coordinator), one
 * or more coordinators and agents started by the launcher, a client, and a second view of Redis that
 * scenarios judge by. It owns the workload (tasks whose commands record their own runs, see runlog.ts)
 * and the checks every scenario shares: every accepted task succeeded, exactly one terminal event each, no
 * lease to a dead node, duplicates and overlapping runs from the run log.
 */

/** What one scenario reports: the JSON line of the suite. */
export interface ScenarioReport {
  fault: string;
  accepted: number;
  succeeded: number;
  /** Accepted tasks that did not succeed (failed, dead-lettered, expired or never finished). */
  lost: number;
  /** Tasks with more than one completed run, per the run log. */
  duplicates: number;
  /** Pairs of runs of one task that overlapped in time, per the run log. */
  overlapping: number;
  detect_ms: number | null;
  requeue_ms: number | null;
  [extra: string]: unknown;
}

/** How a scenario's fleet is shaped. */
export interface FaultFleetOptions {
  agents: LocalAgentSpec[];
  /** The file the tasks' commands append their runs to. */
  runLog: string;
  coordinatorArgs?: string[];
  coordinatorEnv?: Record<string, string>;
  /** Coordinators on the one Redis (default 1). */
  coordinators?: number;
  /** Puts a cuttable TCP proxy between the coordinators and Redis. */
  redisProxy?: boolean;
  host?: string;
  log?: (line: string) => void;
}

/** Options of {@link FaultFleet.submitWorkload}. */
export interface WorkloadOptions {
  /** Shortest and longest sleep, ms (default 10-500). */
  durationMs?: readonly [number, number];
  /** Submits are started evenly over this long instead of in batches of 50 as fast as they are acknowledged. */
  spreadOverMs?: number;
  /** A submit that fails is counted in `rejected` instead of failing the scenario. */
  tolerateErrors?: boolean;
  /** Ask the coordinator to promise each result (the client's default); false to fire and forget. */
  wait?: boolean;
  /** More fields of every task spec. */
  extra?: Record<string, unknown>;
}

/** The accepted part of a workload. */
export interface Workload {
  ids: string[];
  handles: TaskHandle[];
  workMs: number[];
  /** Submits that failed with an error (not accepted). */
  rejected: number;
}

/** Shapes every agent so its tasks know which node ran them, even before the agent says so itself. */
function withNodeName(spec: LocalAgentSpec): LocalAgentSpec {
  return { ...spec, env: { FLOTILLA_TEST_NODE: spec.id, ...spec.env } };
}

/** A running fleet plus what a scenario needs to drive it and judge it. */
export class FaultFleet {
  readonly events: FleetEvent[] = [];
  /** Run-log labels of submitted tasks, to their task ids. */
  private readonly labels = new Map<string, string>();
  private submitted = 0;
  private constructor(
    readonly fleet: LocalFleet,
    readonly redisServer: RedisServer,
    readonly proxy: TcpProxy | undefined,
    readonly client: FlotillaClient,
    readonly redis: Redis,
    private readonly subscriber: Redis,
    readonly keys: RedisKeys,
    readonly runLog: string,
  ) {}

  static async start(options: FaultFleetOptions): Promise<FaultFleet> {
    const redisServer = await startRedisServer({ appendOnly: "everysec" });
    let proxy: TcpProxy | undefined;
    let fleet: LocalFleet | undefined;
    try {
      if (options.redisProxy) proxy = await TcpProxy.start({ host: "127.0.0.1", port: redisServer.port });
      const fleetOptions: LocalFleetOptions = {
        coordinatorBin: coordinatorBin(),
        agentBin: agentBin(),
        agents: options.agents.map(withNodeName),
        coordinatorArgs: ["--log-level", "warn", ...(options.coordinatorArgs ?? [])],
        redisUrl: redisServer.url,
        coordinators: options.coordinators ?? 1,
        // Four processes loading from sources on a busy 2-core machine can take a while to say ready.
        readyTimeoutMs: 60_000,
      };
      if (proxy) fleetOptions.coordinatorRedisUrl = proxy.url;
      if (options.coordinatorEnv) fleetOptions.coordinatorEnv = options.coordinatorEnv;
      if (options.host !== undefined) fleetOptions.host = options.host;
      if (options.log) {
        const log = options.log;
        fleetOptions.onLine = (name, line) => log(`[${name}] ${line}`);
      }
      fleet = await startLocalFleet(fleetOptions);
      const keys = createKeys(fleet.prefix);
      const redis = new Redis(fleet.redisUrl, { maxRetriesPerRequest: null });
      const subscriber = new Redis(fleet.redisUrl, { maxRetriesPerRequest: null });
      redis.on("error", () => {});
      subscriber.on("error", () => {});
      const client = await connect({ url: fleet.url, token: fleet.token, requestTimeoutMs: 60_000 });
      const faultFleet = new FaultFleet(
        fleet,
        redisServer,
        proxy,
        client,
        redis,
        subscriber,
        keys,
        options.runLog,
      );
      await subscriber.subscribe(keys.events);
      subscriber.on("message", (_channel, raw) => faultFleet.onFleetEvent(raw));
      return faultFleet;
    } catch (error) {
      await fleet?.stop();
      await proxy?.close();
      await redisServer.dispose();
      throw error;
    }
  }

  private onFleetEvent(raw: string): void {
    const event = JSON.parse(raw) as {
      type: string;
      node: string;
      timestamp: string;
      from?: string;
      to?: string;
    };
    const entry: FleetEvent = { type: event.type, node: event.node, at: Date.parse(event.timestamp) };
    if (event.from !== undefined) entry.from = event.from;
    if (event.to !== undefined) entry.to = event.to;
    this.events.push(entry);
  }

  /** Starts (or starts again) an agent, shaped like the fleet's own. */
  async startAgent(spec: LocalAgentSpec): Promise<void> {
    await this.fleet.startAgent(withNodeName(spec));
  }

  /**
   * Submits `count` recorded sleeps (10-500 ms by default, seeded) in mixed priorities, up to ten attempts
   * each; returns what was accepted.
   */
  async submitWorkload(count: number, seed: number, options: WorkloadOptions = {}): Promise<Workload> {
    const random = seeded(seed);
    const [shortest, longest] = options.durationMs ?? [10, 500];
    const priorities = ["high", "normal", "normal", "low"] as const;
    const workload: Workload = { ids: [], handles: [], workMs: [], rejected: 0 };
    const submitOne = async (): Promise<void> => {
      const ms = shortest + Math.floor(random() * (longest - shortest + 1));
      this.submitted += 1;
      const label = `t${seed}-${this.submitted}`;
      const submitting = this.client.submit(
        {
          kind: "exec",
          argv: recordedSleep(label, ms, this.runLog),
          priority: priorities[Math.floor(random() * priorities.length)] ?? "normal",
          retry: { maxAttempts: 10, backoffMs: 100 },
          ...options.extra,
        },
        { wait: options.wait !== false },
      );
      try {
        const handle = await submitting;
        this.labels.set(label, handle.id);
        workload.ids.push(handle.id);
        workload.handles.push(handle);
        workload.workMs.push(ms);
      } catch (error) {
        if (!options.tolerateErrors) throw error;
        workload.rejected += 1;
      }
    };
    if (options.spreadOverMs !== undefined) {
      const gap = options.spreadOverMs / count;
      const started: Promise<void>[] = [];
      for (let index = 0; index < count; index += 1) {
        started.push(submitOne());
        await sleep(gap);
      }
      await Promise.all(started);
      return workload;
    }
    for (let start = 0; start < count; start += 50) {
      await Promise.all(Array.from({ length: Math.min(50, count - start) }, submitOne));
    }
    return workload;
  }

  /** Waits until every task is in a terminal state or the time is up. */
  async waitTerminal(ids: readonly string[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const pending = new Set(ids);
    while (pending.size > 0 && Date.now() < deadline) {
      const list = [...pending];
      const pipeline = this.redis.pipeline();
      for (const id of list) pipeline.hget(this.keys.task(id), "state");
      const states = (await pipeline.exec()) ?? [];
      states.forEach(([, state], index) => {
        if (typeof state === "string" && TERMINAL.has(state)) pending.delete(list[index] as string);
      });
      if (pending.size > 0) await sleep(250);
    }
  }

  /** The `running:{node}` sets in Redis that still hold tasks, with their members. */
  async strandedRuns(): Promise<Record<string, string[]>> {
    const found: Record<string, string[]> = {};
    const pattern = this.keys.running("*");
    let cursor = "0";
    do {
      const [next, keys] = await this.redis.scan(cursor, "MATCH", pattern, "COUNT", 500);
      cursor = next;
      for (const key of keys) {
        if ((await this.redis.type(key)) !== "set") continue;
        const members = await this.redis.smembers(key);
        if (members.length > 0) found[key] = members;
      }
    } while (cursor !== "0");
    return found;
  }

  /**
   * Checks the invariants of the suite over `ids` and builds the report line. Overlapping runs of one
   * task break an invariant unless `allowOverlap` (the partition and freeze scenarios, where a node cut
   * off keeps running what was given to another); there `overlap_ms` says for how long.
   */
  async judge(
    fault: string,
    ids: readonly string[],
    faultTimes: readonly number[],
    extra: Record<string, unknown> = {},
    options: { allowOverlap?: boolean } = {},
  ) {
    const violations: string[] = [];
    let succeeded = 0;
    let reruns = 0;
    const notSucceeded: Record<string, number> = {};
    const taskEvents = new Map<string, TaskEvent[]>();
    const succeededIds: string[] = [];
    for (const id of ids) {
      const [state, events] = await Promise.all([
        this.redis.hget(this.keys.task(id), "state"),
        this.redis.lrange(this.keys.taskEvents(id), 0, -1),
      ]);
      const parsed = events.map((line) => JSON.parse(line) as TaskEvent);
      taskEvents.set(id, parsed);
      if (parsed.filter((event) => event.state === "running").length > 1) reruns += 1;
      if (state === "succeeded") {
        succeeded += 1;
        succeededIds.push(id);
      } else {
        const why = state ?? "missing";
        notSucceeded[why] = (notSucceeded[why] ?? 0) + 1;
        violations.push(`${id} accepted but ${state === null ? "gone from Redis" : `ended ${state}`}`);
      }
      if (state === null || !TERMINAL.has(state)) continue;
      const terminalEvents = parsed.filter((event) => TERMINAL.has(event.state));
      if (terminalEvents.length !== 1) violations.push(`${id} has ${terminalEvents.length} terminal events`);
    }
    const known = new Set(ids);
    const census = readRunLog(this.runLog, (key) => {
      const id = known.has(key) ? key : this.labels.get(key);
      return id !== undefined && known.has(id) ? id : undefined;
    });
    for (const id of succeededIds) {
      if (!census.runs.has(id)) violations.push(`${id} succeeded but its command never recorded a run`);
    }
    if (census.malformed > 0) violations.push(`${census.malformed} malformed lines in the run log`);
    if (census.overlapping > 0 && !options.allowOverlap) {
      violations.push(
        `${census.overlapping} pairs of runs of one task overlapped (longest ${census.overlapMs} ms)`,
      );
    }
    violations.push(...leasesToUnavailableNodes(this.events, taskEvents));
    const timing = faultTiming(this.events, taskEvents, faultTimes);
    const report: ScenarioReport = {
      fault,
      accepted: ids.length,
      succeeded,
      lost: ids.length - succeeded,
      duplicates: census.duplicates,
      overlapping: census.overlapping,
      ...(options.allowOverlap ? { overlap_ms: census.overlapMs } : {}),
      reruns,
      ...(Object.keys(notSucceeded).length > 0 ? { not_succeeded: notSucceeded } : {}),
      detect_ms: timing.detectMs,
      requeue_ms: timing.requeueMs,
      ...extra,
    };
    return { report, violations, taskEvents, runs: census.runs };
  }

  async stop(): Promise<void> {
    this.client.close();
    this.subscriber.disconnect();
    this.redis.disconnect();
    await this.fleet.stop();
    await this.proxy?.close();
    await this.redisServer.dispose();
  }
}

export const TERMINAL: ReadonlySet<string> = new Set(TERMINAL_STATES);

/** A seeded source of [0, 1), so a scenario's workload and fault pattern are the same every run. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
