/**
 * The fleet's alerts: every `alertIntervalMs` the active coordinator observes the fleet (healthy nodes,
 * each node's load, memory and heartbeat delay, submit-to-start latency, the last hour's stability, the
 * oldest task's wait), runs the pure evaluator of `alert-rules.ts`, and acts on what changed: the rules'
 * states go to a Redis hash (so a coordinator that takes over carries on with them, and fires nothing
 * twice), resolved alerts to a capped list, each change to `agents:events` as `alert.fired` or
 * `alert.resolved` (and so to every `events.watch` connection), to the `/metrics` counters, and to the
 * webhook when one is set. `FleetAlerts` owns those keys and the start-latency and heartbeat-delay
 * windows fed to it by dispatch and membership; it changes no node and no task.
 */
import { type Alert, AlertSchema } from "@flotilla/protocol";
import {
  type Evaluation,
  evaluateAlerts,
  type FleetObservation,
  type NodeObservation,
  type RuleState,
  readingsOf,
} from "./alert-rules.js";
import type { CoordinatorContext, CoordinatorParts } from "./context.js";
import { nodeUsage, parseJson } from "./history.js";
import { AlertWebhook } from "./webhook.js";

/** How many resolved alerts are kept for `alerts.list` with `all`. */
export const RESOLVED_KEPT = 100;
/** The window the submit-to-start latency is judged over, ms. */
const START_WINDOW_MS = 60_000;
/** How many of the latest starts are kept for the window. */
const START_RING = 2048;
/** The percentile of the window's latencies that is judged. */
const START_PERCENTILE = 0.9;
/** How often the last hour's stability is read again from Redis, ms. */
const STABILITY_EVERY_MS = 10_000;
/** Node-fault entries read back to count the last hour's (the list holds up to 10,000). */
const FAULTS_READ = 2_000;

/** Evaluates the alert rules and announces what changes. */
export class FleetAlerts {
  private states = new Map<string, RuleState>();
  private loaded = false;
  private evaluating = false;
  /** The last starts' latencies and times, a ring (recording one is O(1) on the submit path). */
  private readonly startMs = new Float64Array(START_RING);
  private readonly startAt = new Float64Array(START_RING).fill(Number.NEGATIVE_INFINITY);
  private startNext = 0;
  private readonly heartbeatDelays = new Map<string, number>();
  private readonly fastestTransit = new WeakMap<object, number>();
  private stability: { at: number; finished: number; faults: number } | undefined = undefined;
  private readonly webhook: AlertWebhook | undefined;

  constructor(
    private readonly ctx: CoordinatorContext,
    private readonly parts: Pick<CoordinatorParts, "events" | "history">,
  ) {
    const url = ctx.options.alertWebhookUrl;
    this.webhook =
      url === undefined
        ? undefined
        : new AlertWebhook(url, { random: ctx.options.random, log: ctx.log, metrics: ctx.metrics });
  }

  /** A task went from submit to its lease in `ms` (dispatch and submit call this). */
  recordStart(ms: number, now: number): void {
    this.startMs[this.startNext] = ms;
    this.startAt[this.startNext] = now;
    this.startNext = (this.startNext + 1) % START_RING;
  }

  /**
   * A heartbeat from `nodeId` on `connection` arrived `transitMs` after the time written on it (the
   * agent's clock). The delay kept is the excess over the fastest heartbeat of that connection: a clock
   * set apart from this one is a constant in every transit and drops out, while a slowdown since the
   * connection opened (network, a busy agent or coordinator) shows in full.
   */
  recordHeartbeat(nodeId: string, connection: object, transitMs: number): void {
    if (!Number.isFinite(transitMs)) return;
    const fastest = Math.min(this.fastestTransit.get(connection) ?? transitMs, transitMs);
    this.fastestTransit.set(connection, fastest);
    this.heartbeatDelays.set(nodeId, transitMs - fastest);
  }

  /**
   * One evaluation: observe, evaluate, store and announce the changes. One at a time: a call while the
   * last is still waiting on Redis is skipped (two from the same states would fire an alert twice).
   */
  async evaluate(now: number): Promise<Evaluation | undefined> {
    if (this.evaluating) return undefined;
    this.evaluating = true;
    try {
      return await this.evaluateOnce(now);
    } finally {
      this.evaluating = false;
    }
  }

  private async evaluateOnce(now: number): Promise<Evaluation> {
    if (!this.loaded) await this.load();
    const observation = await this.observe(now);
    const evaluation = evaluateAlerts(
      this.states,
      readingsOf(observation, this.ctx.options.alerts),
      this.ctx.options.alerts,
      now,
    );
    await this.store(evaluation);
    this.states = evaluation.states;
    this.announce(evaluation, now);
    return evaluation;
  }

  /** Firing alerts (newest first), and with `all` the recently resolved ones after them. */
  async list(all: boolean): Promise<Alert[]> {
    const ctx = this.ctx;
    const [stored, resolved] = await Promise.all([
      ctx.redisClient.hvals(ctx.keys.alertStates),
      all ? ctx.redisClient.lrange(ctx.keys.alertsResolved, 0, RESOLVED_KEPT - 1) : Promise.resolve([]),
    ]);
    const firing: Alert[] = [];
    for (const line of stored) {
      const state = parseJson(line) as RuleState | undefined;
      if (state?.phase !== "firing") continue;
      const alert = AlertSchema.safeParse(state.alert);
      if (alert.success) firing.push(alert.data);
    }
    firing.sort((a, b) => b.firedAt - a.firedAt);
    const ended: Alert[] = [];
    const listed = new Set<string>();
    for (const line of resolved) {
      const alert = AlertSchema.safeParse(parseJson(line));
      // One written twice (a resent LPUSH after a lost connection) shows once.
      if (!alert.success || listed.has(alert.data.id)) continue;
      listed.add(alert.data.id);
      ended.push(alert.data);
    }
    return [...firing, ...ended];
  }

  /** Stops the webhook's retries. */
  close(): void {
    this.webhook?.close();
  }

  /** Reads the rules' states a previous coordinator left (once, before the first evaluation). */
  private async load(): Promise<void> {
    const stored = await this.ctx.redisClient.hgetall(this.ctx.keys.alertStates);
    for (const [key, line] of Object.entries(stored)) {
      const state = parseJson(line) as RuleState | undefined;
      if (state?.phase === "pending" && typeof state.since === "number") this.states.set(key, state);
      else if (state?.phase === "firing" && AlertSchema.safeParse(state.alert).success)
        this.states.set(key, state);
    }
    this.loaded = true;
  }

  private async observe(now: number): Promise<FleetObservation> {
    const ctx = this.ctx;
    const nodes: NodeObservation[] = [];
    for (const node of ctx.nodes.values()) {
      if (node.health !== "healthy") continue;
      const usage = nodeUsage(node);
      nodes.push({
        id: node.id,
        loadPerCore: usage.loadPerCore,
        memoryUsed: usage.memoryUsed,
        heartbeatLatencyMs: this.heartbeatDelays.get(node.id),
      });
    }
    const observation: FleetObservation = { healthyNodes: nodes.length, nodes };
    observation.startLatencyMs = this.startLatency(now);
    observation.lastHour = await this.lastHour(now);
    const latest = this.parts.history.latest;
    // A sample older than two intervals says nothing about now (history may be failing to write).
    if (latest && now - latest.at <= 2 * ctx.options.historyIntervalMs)
      observation.oldestWaitMs = latest.fleet.oldestWaitMs;
    return observation;
  }

  /** The window's high percentile of submit-to-start latency (undefined when nothing started in it). */
  private startLatency(now: number): number | undefined {
    const recent: number[] = [];
    for (let i = 0; i < START_RING; i += 1)
      if ((this.startAt[i] as number) >= now - START_WINDOW_MS) recent.push(this.startMs[i] as number);
    if (recent.length === 0) return undefined;
    recent.sort((a, b) => a - b);
    return recent[Math.min(recent.length - 1, Math.floor(recent.length * START_PERCENTILE))];
  }

  /** Runs ended and node faults in the last hour, read from Redis at most every 10 s. */
  private async lastHour(now: number): Promise<{ finished: number; faults: number }> {
    const cached = this.stability;
    if (cached && now - cached.at < STABILITY_EVERY_MS) return cached;
    const ctx = this.ctx;
    const from = now - 3_600_000;
    const [finished, failures] = await Promise.all([
      ctx.redisClient.zcount(ctx.keys.store.finished(), from, now),
      ctx.redisClient.lrange(ctx.keys.redis.taskFailures, -FAULTS_READ, -1),
    ]);
    let faults = 0;
    for (const line of failures) {
      const at = (parseJson(line) as { at?: unknown } | undefined)?.at;
      if (typeof at === "number" && at >= from) faults += 1;
    }
    this.stability = { at: now, finished: Number(finished), faults };
    return this.stability;
  }

  /** Writes what changed: new and changed states, states gone, resolved alerts. */
  private async store(evaluation: Evaluation): Promise<void> {
    const ctx = this.ctx;
    const write = ctx.redisClient.multi();
    let writes = 0;
    for (const [key, state] of evaluation.states) {
      if (this.states.get(key) === state) continue;
      write.hset(ctx.keys.alertStates, key, JSON.stringify(state));
      writes += 1;
    }
    const gone = [...this.states.keys()].filter((key) => !evaluation.states.has(key));
    if (gone.length > 0) {
      write.hdel(ctx.keys.alertStates, ...gone);
      writes += 1;
    }
    if (evaluation.resolved.length > 0) {
      write.lpush(ctx.keys.alertsResolved, ...evaluation.resolved.map((alert) => JSON.stringify(alert)));
      write.ltrim(ctx.keys.alertsResolved, 0, RESOLVED_KEPT - 1);
      writes += 1;
    }
    if (writes > 0) await write.exec();
  }

  private announce(evaluation: Evaluation, now: number): void {
    const ctx = this.ctx;
    const changes: [string, Alert][] = [
      ...evaluation.fired.map((alert): [string, Alert] => ["alert.fired", alert]),
      ...evaluation.resolved.map((alert): [string, Alert] => ["alert.resolved", alert]),
    ];
    for (const [type, alert] of changes) {
      const event = type === "alert.fired" ? "fired" : "resolved";
      ctx.metrics.alerts.inc({ rule: alert.rule, event });
      ctx.log[event === "fired" ? "warn" : "info"](
        { rule: alert.rule, subject: alert.subject, value: alert.value, threshold: alert.threshold },
        `alert ${event}: ${alert.message}`,
      );
      ctx.guard(this.parts.events.fleetEvent(type, now, { ...alert }));
      this.webhook?.send({ type, ...alert, timestamp: new Date(now).toISOString() });
    }
    const firing = new Map<string, number>();
    for (const state of evaluation.states.values())
      if (state.phase === "firing") firing.set(state.alert.rule, (firing.get(state.alert.rule) ?? 0) + 1);
    ctx.metrics.observeFiring(firing);
  }
}
