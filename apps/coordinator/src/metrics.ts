import { ALERT_RULES, PRIORITIES } from "@flotilla/protocol";
import { coefficientOfVariation, jainIndex, LatencyHistogram, loadVariance } from "@flotilla/scheduler";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { type FleetNode, slotsUsed } from "./fleet.js";
import { CENSUS_STATES, type TaskCensus } from "./store.js";

/** Per-node figures the gauges are refreshed from. */
export interface NodeFigures {
  id: string;
  load1: number;
  slotsUsed: number;
  slotsTotal: number;
  queued: number;
  healthy: boolean;
  breakerOpen: boolean;
}

/** The coordinator's Prometheus metrics (prom-client), in a registry of their own. */
export class CoordinatorMetrics {
  readonly registry = new Registry();
  readonly submitted = new Counter({
    name: "flotilla_tasks_submitted_total",
    help: "Tasks submitted, by priority and whether the idempotency key made it a duplicate.",
    labelNames: ["priority", "duplicate"],
    registers: [this.registry],
  });
  readonly finished = new Counter({
    name: "flotilla_tasks_finished_total",
    help: "Runs that ended, by the state they left the task in.",
    labelNames: ["outcome"],
    registers: [this.registry],
  });
  readonly retries = new Counter({
    name: "flotilla_task_retries_total",
    help: "Retries scheduled.",
    registers: [this.registry],
  });
  readonly requeued = new Counter({
    name: "flotilla_tasks_requeued_total",
    help: "Leased or running tasks requeued after their node lost them.",
    registers: [this.registry],
  });
  readonly steals = new Counter({
    name: "flotilla_steals_total",
    help: "Queued tasks stolen by idle nodes.",
    registers: [this.registry],
  });
  readonly migrations = new Counter({
    name: "flotilla_migrations_total",
    help: "Queued tasks moved off dead or draining nodes.",
    registers: [this.registry],
  });
  readonly fenced = new Counter({
    name: "flotilla_stale_epoch_rejections_total",
    help: "Messages rejected because their lease epoch was stale.",
    registers: [this.registry],
  });
  readonly redisEmptied = new Counter({
    name: "flotilla_redis_emptied_total",
    help: "Times Redis was found emptied or replaced after a reconnect (its generation key gone or changed).",
    registers: [this.registry],
  });
  readonly violations = new Counter({
    name: "flotilla_protocol_violations_total",
    help: "Frames refused, by error code.",
    labelNames: ["code"],
    registers: [this.registry],
  });
  readonly limitRefusals = new Counter({
    name: "flotilla_limit_refusals_total",
    help: "Frames, submits, connections and watches refused, and slow consumers closed, by limit.",
    labelNames: ["limit"],
    registers: [this.registry],
  });
  readonly foreignFrames = new Counter({
    name: "flotilla_foreign_frames_total",
    help: "Agent frames about a run leased to another node, refused.",
    registers: [this.registry],
  });
  readonly dispatchLatency = new Histogram({
    name: "flotilla_dispatch_latency_seconds",
    help: "From accepted to leased to an agent.",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly detections = new Histogram({
    name: "flotilla_failure_detection_seconds",
    help: "From the last sign of life (or the connection closing) to declaring a node dead.",
    buckets: [0.25, 0.5, 1, 2, 5, 10, 30, 90],
    registers: [this.registry],
  });
  private readonly nodeLoad = new Gauge({
    name: "flotilla_node_load1",
    help: "One-minute load average per node.",
    labelNames: ["node"],
    registers: [this.registry],
  });
  private readonly nodeSlots = new Gauge({
    name: "flotilla_node_slots",
    help: "Slots per node, used and total.",
    labelNames: ["node", "kind"],
    registers: [this.registry],
  });
  private readonly queueDepth = new Gauge({
    name: "flotilla_node_queue_depth",
    help: "Tasks queued on each node.",
    labelNames: ["node"],
    registers: [this.registry],
  });
  private readonly nodeHealthy = new Gauge({
    name: "flotilla_node_healthy",
    help: "1 when the node is healthy.",
    labelNames: ["node"],
    registers: [this.registry],
  });
  private readonly breakerOpen = new Gauge({
    name: "flotilla_node_breaker_open",
    help: "1 when the node's circuit breaker is open.",
    labelNames: ["node"],
    registers: [this.registry],
  });
  private readonly tasksByState = new Gauge({
    name: "flotilla_tasks",
    help: "Tasks in each unfinished state, and dead-lettered, as Redis holds them when scraped.",
    labelNames: ["state"],
    registers: [this.registry],
  });
  private readonly queueByPriority = new Gauge({
    name: "flotilla_queue_depth",
    help: "Tasks not leased yet (queued on a node, or waiting for one), by priority, when scraped.",
    labelNames: ["priority"],
    registers: [this.registry],
  });
  readonly alerts = new Counter({
    name: "flotilla_alerts_total",
    help: "Alerts fired and resolved, by rule.",
    labelNames: ["rule", "event"],
    registers: [this.registry],
  });
  readonly webhookSends = new Counter({
    name: "flotilla_alert_webhook_sends_total",
    help: "Alert changes sent to the webhook, by outcome (delivered, refused, failed after every retry).",
    labelNames: ["outcome"],
    registers: [this.registry],
  });
  private readonly alertsFiring = new Gauge({
    name: "flotilla_alerts_firing",
    help: "Alerts firing now, by rule.",
    labelNames: ["rule"],
    registers: [this.registry],
  });
  /** Queue latency (accepted to leased) in ms, for the fleet KPIs. */
  readonly queueLatency = new LatencyHistogram();

  get contentType(): string {
    return this.registry.contentType;
  }

  observeNodes(nodes: readonly NodeFigures[]): void {
    for (const node of nodes) {
      this.nodeLoad.set({ node: node.id }, node.load1);
      this.nodeSlots.set({ node: node.id, kind: "used" }, node.slotsUsed);
      this.nodeSlots.set({ node: node.id, kind: "total" }, node.slotsTotal);
      this.queueDepth.set({ node: node.id }, node.queued);
      this.nodeHealthy.set({ node: node.id }, node.healthy ? 1 : 0);
      this.breakerOpen.set({ node: node.id }, node.breakerOpen ? 1 : 0);
    }
  }

  /** Sets `flotilla_tasks` and `flotilla_queue_depth` from a census (every label, 0 when none). */
  observeCensus(census: TaskCensus): void {
    for (const state of CENSUS_STATES) this.tasksByState.set({ state }, census.states[state] ?? 0);
    for (const priority of PRIORITIES)
      this.queueByPriority.set({ priority }, census.priorities[priority] ?? 0);
  }

  /** Sets `flotilla_alerts_firing` (every rule, 0 when none fires). */
  observeFiring(firing: ReadonlyMap<string, number>): void {
    for (const rule of ALERT_RULES) this.alertsFiring.set({ rule }, firing.get(rule) ?? 0);
  }

  /** The fleet KPIs written to `metrics:task_distribution`. */
  fleetKpis(nodes: readonly FleetNode[]): Record<string, number> {
    const perSlot = nodes.map((node) => (node.inflight + node.queued) / Math.max(1, node.slots));
    const used = nodes.reduce((sum, node) => sum + slotsUsed(node), 0);
    const total = nodes.reduce((sum, node) => sum + node.slots, 0);
    return {
      nodes: nodes.length,
      load_variance: perSlot.length > 0 ? loadVariance(perSlot) : 0,
      load_cv: perSlot.length > 0 ? coefficientOfVariation(perSlot) : 0,
      fairness_index: perSlot.length > 0 ? jainIndex(perSlot) : 1,
      utilisation: total === 0 ? 0 : used / total,
      queue_latency_p50_ms: this.queueLatency.count === 0 ? 0 : this.queueLatency.percentile(50),
      queue_latency_p99_ms: this.queueLatency.count === 0 ? 0 : this.queueLatency.percentile(99),
    };
  }

  async render(): Promise<string> {
    return await this.registry.metrics();
  }
}
