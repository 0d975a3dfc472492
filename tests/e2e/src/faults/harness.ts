import { connect, type FlotillaClient } from "@flotilla/client";
import {
  type LocalAgentSpec,
  type LocalFleet,
  type LocalFleetOptions,
  startLocalFleet,
} from "@flotilla/launcher";
import { createKeys, type RedisKeys, TERMINAL_STATES } from "@flotilla/protocol";
import { Redis } from "ioredis";
import { agentBin, coordinatorBin } from "../bins.js";

/** A fleet event as published on `agents:events`. */
export interface FleetEvent {
  type: string;
  node: string;
  at: number;
  from?: string;
  to?: string;
}

/** A stored task state change (`task:{id}:events`). */
export interface TaskEvent {
  taskId: string;
  state: string;
  at: number;
  node?: string;
  reason?: string;
  epoch?: number;
}

/** What one scenario reports: the JSON line of the suite. */
export interface ScenarioReport {
  fault: string;
  accepted: number;
  succeeded: number;
  lost: number;
  duplicates: number;
  detect_ms: number | null;
  requeue_ms: number | null;
  [extra: string]: unknown;
}

/** A running fleet plus what a scenario needs to drive it and judge it. */
export class FaultFleet {
  readonly events: FleetEvent[] = [];
  private constructor(
    readonly fleet: LocalFleet,
    readonly client: FlotillaClient,
    readonly redis: Redis,
    private readonly subscriber: Redis,
    readonly keys: RedisKeys,
  ) {}

  static async start(options: {
    agents: LocalAgentSpec[];
    coordinatorArgs?: string[];
    host?: string;
    log?: (line: string) => void;
  }): Promise<FaultFleet> {
    const fleetOptions: LocalFleetOptions = {
      coordinatorBin: coordinatorBin(),
      agentBin: agentBin(),
      agents: options.agents,
      coordinatorArgs: ["--log-level", "warn", ...(options.coordinatorArgs ?? [])],
      redis: { appendOnly: "everysec" },
    };
    if (options.host !== undefined) fleetOptions.host = options.host;
    if (options.log) {
      const log = options.log;
      fleetOptions.onLine = (name, line) => log(`[${name}] ${line}`);
    }
    const fleet = await startLocalFleet(fleetOptions);
    const keys = createKeys(fleet.prefix);
    const redis = new Redis(fleet.redisUrl, { maxRetriesPerRequest: null });
    const subscriber = new Redis(fleet.redisUrl, { maxRetriesPerRequest: null });
    redis.on("error", () => {});
    subscriber.on("error", () => {});
    const faultFleet = new FaultFleet(
      fleet,
      await connect({ url: fleet.url, token: fleet.token, requestTimeoutMs: 60_000 }),
      redis,
      subscriber,
      keys,
    );
    await subscriber.subscribe(keys.events);
    subscriber.on("message", (_channel, raw) => {
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
      faultFleet.events.push(entry);
    });
    return faultFleet;
  }

  /** Submits `count` sleeps of 10-500 ms (seeded), in mixed priorities; returns the accepted ids. */
  async submitWorkload(
    count: number,
    seed: number,
    extra: Record<string, unknown> = {},
  ): Promise<{ ids: string[]; workMs: number[] }> {
    let state = seed >>> 0 || 1;
    const random = (): number => {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      return state / 2 ** 32;
    };
    const priorities = ["high", "normal", "normal", "low"] as const;
    const ids: string[] = [];
    const workMs: number[] = [];
    for (let start = 0; start < count; start += 50) {
      const batch = Array.from({ length: Math.min(50, count - start) }, () => {
        const ms = 10 + Math.floor(random() * 491);
        workMs.push(ms);
        return this.client.submit({
          kind: "exec",
          argv: ["sleep", (ms / 1000).toFixed(3)],
          priority: priorities[Math.floor(random() * priorities.length)] ?? "normal",
          retry: { maxAttempts: 10, backoffMs: 100 },
          ...extra,
        });
      });
      for (const handle of await Promise.all(batch)) ids.push(handle.id);
    }
    return { ids, workMs };
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

  /** Checks the invariants of the suite over `ids` and builds the report line. */
  async judge(
    fault: string,
    ids: readonly string[],
    faultTimes: readonly number[],
    extra: Record<string, unknown> = {},
  ) {
    const violations: string[] = [];
    let succeeded = 0;
    let lost = 0;
    let duplicates = 0;
    const taskEvents = new Map<string, TaskEvent[]>();
    for (const id of ids) {
      const [state, events] = await Promise.all([
        this.redis.hget(this.keys.task(id), "state"),
        this.redis.lrange(this.keys.taskEvents(id), 0, -1),
      ]);
      const parsed = events.map((line) => JSON.parse(line) as TaskEvent);
      taskEvents.set(id, parsed);
      if (state === null || !TERMINAL.has(state)) {
        lost += 1;
        violations.push(`${id} not terminal (state ${state})`);
        continue;
      }
      if (state === "succeeded") succeeded += 1;
      const terminalEvents = parsed.filter((event) => TERMINAL.has(event.state));
      if (terminalEvents.length !== 1) violations.push(`${id} has ${terminalEvents.length} terminal events`);
      if (parsed.filter((event) => event.state === "running").length > 1) duplicates += 1;
    }
    // No lease to a node while it was dead, or while its breaker was open (a half-open probe is fine).
    const windows = this.unavailableWindows();
    for (const [id, events] of taskEvents) {
      for (const event of events) {
        if (event.state !== "leased" || event.node === undefined) continue;
        for (const window of windows.get(event.node) ?? []) {
          if (event.at > window.from && event.at < window.to) {
            violations.push(`${id} leased to ${event.node} at ${event.at} while ${window.why}`);
          }
        }
      }
    }
    const deaths = this.events.filter((event) => event.type === "node.dead");
    let detectMs: number | null = null;
    let requeueMs: number | null = null;
    for (const death of deaths) {
      const faultAt = [...faultTimes].reverse().find((at) => at <= death.at);
      if (faultAt !== undefined) detectMs = Math.max(detectMs ?? 0, death.at - faultAt);
    }
    // Each requeue is timed from the latest death of its node before it.
    for (const events of taskEvents.values()) {
      for (const event of events) {
        const node = /node (\S+) died/.exec(event.reason ?? "")?.[1];
        if (node === undefined) continue;
        const death = deaths
          .filter((candidate) => candidate.node === node && candidate.at <= event.at)
          .at(-1);
        if (death) requeueMs = Math.max(requeueMs ?? 0, event.at - death.at);
      }
    }
    const report: ScenarioReport = {
      fault,
      accepted: ids.length,
      succeeded,
      lost,
      duplicates,
      detect_ms: detectMs,
      requeue_ms: requeueMs,
      ...extra,
    };
    return { report, violations, taskEvents };
  }

  /** Per node, the spans during which it must not receive work: dead, or breaker open. */
  private unavailableWindows(): Map<string, { from: number; to: number; why: string }[]> {
    const windows = new Map<string, { from: number; to: number; why: string }[]>();
    const add = (node: string, window: { from: number; to: number; why: string }): void => {
      const list = windows.get(node) ?? [];
      list.push(window);
      windows.set(node, list);
    };
    const byNode = new Map<string, FleetEvent[]>();
    for (const event of this.events) byNode.set(event.node, [...(byNode.get(event.node) ?? []), event]);
    for (const [node, events] of byNode) {
      events.forEach((event, index) => {
        const later = events.slice(index + 1);
        if (event.type === "node.dead") {
          const back = later.find((next) => next.type === "node.rejoined" || next.type === "node.joined");
          add(node, { from: event.at, to: back?.at ?? Number.POSITIVE_INFINITY, why: "dead" });
        }
        if (event.type === "node.breaker" && event.to === "open") {
          const next = later.find((candidate) => candidate.type === "node.breaker");
          add(node, { from: event.at, to: next?.at ?? Number.POSITIVE_INFINITY, why: "breaker open" });
        }
      });
    }
    return windows;
  }

  async stop(): Promise<void> {
    this.client.close();
    this.subscriber.disconnect();
    this.redis.disconnect();
    await this.fleet.stop();
  }
}

export const TERMINAL: ReadonlySet<string> = new Set(TERMINAL_STATES);

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
