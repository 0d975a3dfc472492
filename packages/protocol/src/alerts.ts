import { z } from "zod";
import { EpochMsSchema, IdSchema } from "./primitives.js";
import { PRIORITIES } from "./task.js";

/**
 * What the coordinator watches the fleet for. Each rule compares one reading with its threshold in the
 * coordinator's config: the number of healthy nodes (outside `[min, max]`), a heartbeat's time from the
 * agent to the coordinator, a task's time from submit to start, a node's CPU load per core and share of
 * memory used, the stability score (share of the last hour's tasks that finished without a node fault),
 * and how long the oldest queued task has waited.
 */
export const ALERT_RULES = [
  "cluster_size",
  "heartbeat_latency",
  "start_latency",
  "cpu_load",
  "memory",
  "stability",
  "queue_wait",
] as const;
/** One alert rule. */
export const AlertRuleSchema = z.enum(ALERT_RULES);
/** One alert rule. */
export type AlertRule = z.infer<typeof AlertRuleSchema>;

/** The subject of an alert about the fleet as a whole rather than one node. */
export const FLEET_SUBJECT = "fleet";

/**
 * An alert: a rule's reading about `subject` (a node id, or `"fleet"`) crossed its threshold at
 * `firedAt`; `resolvedAt` is set once the reading came back (with hysteresis). `value` is the reading
 * when it fired (then the last one seen while firing), in the rule's unit: nodes, ms, a share in [0, 1].
 */
export const AlertSchema = z.object({
  id: z.string().min(1).max(256),
  rule: AlertRuleSchema,
  subject: z.string().min(1).max(128),
  value: z.number(),
  threshold: z.number(),
  firedAt: EpochMsSchema,
  resolvedAt: EpochMsSchema.optional(),
  message: z.string(),
});
/** An alert, firing or resolved. */
export type Alert = z.infer<typeof AlertSchema>;

/** The answer to `alerts.list`: firing alerts first (newest first), then recently resolved ones. */
export const AlertListSchema = z.object({ alerts: z.array(AlertSchema) });
/** The answer to `alerts.list`. */
export type AlertList = z.infer<typeof AlertListSchema>;

/** One node in one history sample. */
export const NodeSampleSchema = z.object({
  /** One-minute load average divided by the node's cores; absent before its first heartbeat with load. */
  loadPerCore: z.number().min(0).optional(),
  /** Share of memory in use, in [0, 1]; absent when the agent does not report free memory. */
  memoryUsed: z.number().min(0).max(1).optional(),
  slotsUsed: z.int().min(0),
  slotsTotal: z.int().min(0),
  healthy: z.boolean(),
});
/** One node in one history sample. */
export type NodeSample = z.infer<typeof NodeSampleSchema>;

/** The fleet as a whole in one history sample. Counts over the sample's interval are marked so. */
export const FleetSampleSchema = z.object({
  /** Tasks not yet leased (queued on a node or waiting for one), by priority. */
  queued: z.record(z.enum(PRIORITIES), z.int().min(0)),
  /** Tasks leased or running. */
  running: z.int().min(0),
  /** Runs that ended over the last minute. */
  throughputPerMin: z.number().min(0),
  /** Tasks stolen by idle nodes during the interval. */
  steals: z.int().min(0),
  /** Tasks moved off a node that died, drained or lost them, during the interval. */
  reroutes: z.int().min(0),
  /** How long the oldest task not yet leased has waited, ms (0 when none waits). */
  oldestWaitMs: z.int().min(0),
  healthyNodes: z.int().min(0),
});
/** The fleet as a whole in one history sample. */
export type FleetSample = z.infer<typeof FleetSampleSchema>;

/** One point of the fleet's history, taken by the active coordinator. */
export const HistorySampleSchema = z.object({
  at: EpochMsSchema,
  fleet: FleetSampleSchema,
  nodes: z.record(IdSchema, NodeSampleSchema),
});
/** One point of the fleet's history. */
export type HistorySample = z.infer<typeof HistorySampleSchema>;

/** The answer to `history.get`: samples oldest first, one per `intervalMs`. */
export const FleetHistorySchema = z.object({
  intervalMs: z.int().min(1),
  samples: z.array(HistorySampleSchema),
});
/** The answer to `history.get`. */
export type FleetHistory = z.infer<typeof FleetHistorySchema>;

/** The most minutes of history one `history.get` asks for (the coordinator keeps what its config says). */
export const MAX_HISTORY_MINUTES = 60;
