/**
 * The alert rules and their evaluator, pure: no Redis, no clock (`now` is a parameter). `readingsOf` turns
 * what the coordinator sees of the fleet into one reading per rule and subject; `evaluateAlerts` moves each
 * rule's state (ok → pending → firing → ok) with hysteresis in value and in time: a reading must breach its
 * threshold for `fireAfterMs` before its alert fires, and come back past the threshold by the
 * `hysteresis` share of it, and stay there for `resolveAfterMs`, before the alert resolves. `alerts.ts`
 * owns the state between evaluations (in Redis) and what follows a change.
 */
import { type Alert, type AlertRule, FLEET_SUBJECT } from "@flotilla/protocol";

/** The thresholds and timing of the alert rules (the coordinator's `alerts` settings). */
export interface AlertThresholds {
  /** Fewer healthy nodes than this fires `cluster_size` (default 3). */
  minNodes: number;
  /** More healthy nodes than this fires `cluster_size` (default 10). */
  maxNodes: number;
  /** A heartbeat slower than this from agent to coordinator, ms, fires `heartbeat_latency` (default 1000). */
  heartbeatLatencyMs: number;
  /** Tasks slower than this from submit to start, ms, fire `start_latency` (default 1000). */
  startLatencyMs: number;
  /** A node's 1-minute load per core above this fires `cpu_load` (default 0.8). */
  cpuLoadPerCore: number;
  /** A node's share of memory used above this fires `memory` (default 0.8). */
  memoryUsed: number;
  /** A stability score below this fires `stability` (default 0.9). */
  stability: number;
  /** The stability score is judged only over at least this many tasks in the hour (default 20). */
  stabilityMinTasks: number;
  /** The oldest task not yet leased waiting longer than this, ms, fires `queue_wait` (default 5 min). */
  queueWaitMs: number;
  /** How long a reading must breach before its alert fires, ms (default 10 s). */
  fireAfterMs: number;
  /** How long a reading must be back before its alert resolves, ms (default 30 s). */
  resolveAfterMs: number;
  /** How far past its threshold, as a share of it, a reading must come back to resolve (default 0.1). */
  hysteresis: number;
}

/** The defaults of {@link AlertThresholds}. */
export const DEFAULT_ALERT_THRESHOLDS: Readonly<AlertThresholds> = Object.freeze({
  minNodes: 3,
  maxNodes: 10,
  heartbeatLatencyMs: 1000,
  startLatencyMs: 1000,
  cpuLoadPerCore: 0.8,
  memoryUsed: 0.8,
  stability: 0.9,
  stabilityMinTasks: 20,
  queueWaitMs: 5 * 60_000,
  fireAfterMs: 10_000,
  resolveAfterMs: 30_000,
  hysteresis: 0.1,
});

/** Checks thresholds read from a config file or flags; throws a `RangeError` naming the bad one. */
export function checkAlertThresholds(thresholds: AlertThresholds): AlertThresholds {
  for (const [name, value] of Object.entries(thresholds)) {
    if (!(typeof value === "number" && value >= 0 && Number.isFinite(value)))
      throw new RangeError(`alerts.${name} must be a number, 0 or more`);
  }
  if (thresholds.minNodes > thresholds.maxNodes)
    throw new RangeError("alerts.minNodes must not be above alerts.maxNodes");
  if (thresholds.hysteresis >= 1) throw new RangeError("alerts.hysteresis must be below 1");
  return thresholds;
}

/** What the coordinator sees of one node at an evaluation. */
export interface NodeObservation {
  id: string;
  /** 1-minute load average per core; absent before the first heartbeat with load. */
  loadPerCore?: number | undefined;
  /** Share of memory used; absent when the agent does not report it. */
  memoryUsed?: number | undefined;
  /** The last heartbeat's delay from agent to coordinator, ms. */
  heartbeatLatencyMs?: number | undefined;
}

/** What the coordinator sees of the fleet at an evaluation. Absent figures give no reading. */
export interface FleetObservation {
  healthyNodes: number;
  /** The healthy nodes. */
  nodes: readonly NodeObservation[];
  /** Submit to start over the recent window, ms (a high percentile). */
  startLatencyMs?: number | undefined;
  /** Tasks that ended in the last hour, and how many node faults cost a run in it. */
  lastHour?: { finished: number; faults: number } | undefined;
  /** How long the oldest task not yet leased has waited, ms. */
  oldestWaitMs?: number | undefined;
}

/** One rule's reading about one subject. */
export interface Reading {
  rule: AlertRule;
  subject: string;
  value: number;
}

/** The stability score of an hour: the share of its runs not cut short by a node fault. */
export function stabilityScore(finished: number, faults: number): number {
  const runs = finished + faults;
  return runs === 0 ? 1 : finished / runs;
}

/** The readings of one observation: one per rule and subject that has a figure. */
export function readingsOf(observation: FleetObservation, thresholds: AlertThresholds): Reading[] {
  const readings: Reading[] = [
    { rule: "cluster_size", subject: FLEET_SUBJECT, value: observation.healthyNodes },
  ];
  for (const node of observation.nodes) {
    if (node.loadPerCore !== undefined)
      readings.push({ rule: "cpu_load", subject: node.id, value: node.loadPerCore });
    if (node.memoryUsed !== undefined)
      readings.push({ rule: "memory", subject: node.id, value: node.memoryUsed });
    if (node.heartbeatLatencyMs !== undefined)
      readings.push({ rule: "heartbeat_latency", subject: node.id, value: node.heartbeatLatencyMs });
  }
  if (observation.startLatencyMs !== undefined)
    readings.push({ rule: "start_latency", subject: FLEET_SUBJECT, value: observation.startLatencyMs });
  const hour = observation.lastHour;
  if (hour !== undefined && hour.finished + hour.faults >= Math.max(1, thresholds.stabilityMinTasks))
    readings.push({
      rule: "stability",
      subject: FLEET_SUBJECT,
      value: stabilityScore(hour.finished, hour.faults),
    });
  if (observation.oldestWaitMs !== undefined)
    readings.push({ rule: "queue_wait", subject: FLEET_SUBJECT, value: observation.oldestWaitMs });
  return readings;
}

/** Where a reading stands against its rule: past the threshold, back past the margin, or between. */
type Standing = { breach: true; threshold: number } | { breach: false; clear: boolean };

/** The threshold a reading is judged against and whether it breaches it or is clear of it. */
function standing(reading: Reading, t: AlertThresholds): Standing {
  const above = (threshold: number): Standing =>
    reading.value > threshold
      ? { breach: true, threshold }
      : { breach: false, clear: reading.value <= threshold * (1 - t.hysteresis) };
  switch (reading.rule) {
    case "cluster_size":
      if (reading.value < t.minNodes) return { breach: true, threshold: t.minNodes };
      if (reading.value > t.maxNodes) return { breach: true, threshold: t.maxNodes };
      // Whole nodes: back inside the range is clear.
      return { breach: false, clear: true };
    case "heartbeat_latency":
      return above(t.heartbeatLatencyMs);
    case "start_latency":
      return above(t.startLatencyMs);
    case "cpu_load":
      return above(t.cpuLoadPerCore);
    case "memory":
      return above(t.memoryUsed);
    case "queue_wait":
      return above(t.queueWaitMs);
    case "stability":
      return reading.value < t.stability
        ? { breach: true, threshold: t.stability }
        : { breach: false, clear: reading.value >= t.stability + (1 - t.stability) * t.hysteresis };
  }
}

/** One rule and subject's state between evaluations (absent = ok). */
export type RuleState =
  | { phase: "pending"; since: number }
  | { phase: "firing"; alert: Alert; clearSince?: number | undefined };

/** The key of a rule and subject in the state map. */
export function ruleKey(rule: AlertRule, subject: string): string {
  return `${rule}:${subject}`;
}

/** What one evaluation did. */
export interface Evaluation {
  /** The state after it: only rules pending or firing are in it. */
  states: Map<string, RuleState>;
  fired: Alert[];
  resolved: Alert[];
  /** Firing alerts whose value changed (kept up to date for listings). */
  updated: Alert[];
}

/** The words of an alert for people. */
export function alertMessage(rule: AlertRule, subject: string, value: number, threshold: number): string {
  const on = subject === FLEET_SUBJECT ? "the fleet" : `node ${subject}`;
  const share = (x: number): string => x.toFixed(2);
  const ms = (x: number): string => `${Math.round(x)} ms`;
  switch (rule) {
    case "cluster_size":
      return `${value} healthy node${value === 1 ? "" : "s"}, ${value < threshold ? "below the minimum" : "above the maximum"} of ${threshold}`;
    case "heartbeat_latency":
      return `heartbeats from ${on} take ${ms(value)} to arrive (limit ${ms(threshold)})`;
    case "start_latency":
      return `tasks take ${ms(value)} from submit to start (limit ${ms(threshold)})`;
    case "cpu_load":
      return `load per core on ${on} is ${share(value)} (limit ${share(threshold)})`;
    case "memory":
      return `memory used on ${on} is ${share(value)} (limit ${share(threshold)})`;
    case "stability":
      return `stability ${share(value)}: share of the last hour's runs not cut short by a node fault (minimum ${share(threshold)})`;
    case "queue_wait":
      return `the oldest queued task has waited ${ms(value)} (limit ${ms(threshold)})`;
  }
}

/**
 * Moves every rule's state one evaluation on. A rule with no reading this time (its node left, or its
 * figure is not known now) counts as clear: a firing alert about it resolves after `resolveAfterMs`.
 * Of several readings for one rule and subject, the first counts.
 */
export function evaluateAlerts(
  previous: ReadonlyMap<string, RuleState>,
  readings: readonly Reading[],
  thresholds: AlertThresholds,
  now: number,
): Evaluation {
  const states = new Map<string, RuleState>();
  const result: Evaluation = { states, fired: [], resolved: [], updated: [] };
  const seen = new Set<string>();
  for (const reading of readings) {
    const key = ruleKey(reading.rule, reading.subject);
    // One reading per rule and subject counts: the first.
    if (seen.has(key)) continue;
    seen.add(key);
    const before = previous.get(key);
    const stand = standing(reading, thresholds);
    if (before?.phase === "firing") {
      const alert = before.alert;
      if (stand.breach || !stand.clear) {
        if (alert.value !== reading.value) {
          const updated = { ...alert, value: reading.value };
          result.updated.push(updated);
          states.set(key, { phase: "firing", alert: updated });
        } else states.set(key, { phase: "firing", alert });
        continue;
      }
      const clearSince = before.clearSince ?? now;
      if (now - clearSince >= thresholds.resolveAfterMs) {
        result.resolved.push({ ...alert, value: reading.value, resolvedAt: now });
      } else states.set(key, { phase: "firing", alert, clearSince });
      continue;
    }
    if (!stand.breach) continue;
    const since = before?.phase === "pending" ? before.since : now;
    if (now - since >= thresholds.fireAfterMs) {
      const alert: Alert = {
        id: `${key}:${now}`,
        rule: reading.rule,
        subject: reading.subject,
        value: reading.value,
        threshold: stand.threshold,
        firedAt: now,
        message: alertMessage(reading.rule, reading.subject, reading.value, stand.threshold),
      };
      result.fired.push(alert);
      states.set(key, { phase: "firing", alert });
    } else states.set(key, { phase: "pending", since });
  }
  for (const [key, before] of previous) {
    if (seen.has(key) || before.phase !== "firing") continue;
    const clearSince = before.clearSince ?? now;
    if (now - clearSince >= thresholds.resolveAfterMs)
      result.resolved.push({ ...before.alert, resolvedAt: now });
    else states.set(key, { phase: "firing", alert: before.alert, clearSince });
  }
  return result;
}
