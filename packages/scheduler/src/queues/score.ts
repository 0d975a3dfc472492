import type { Priority } from "../types.js";

/** Configuration of {@link queueScore}. */
export interface QueueScoreConfig {
  /**
   * Virtual delay per priority: a task's score is `enqueuedAt + delayMs[priority]`, so a low task queued at
   * `t` goes ahead of every high task queued after `t + delayMs.low - delayMs.high`. This is the aging
   * bound: however much higher work arrives later, a waiting task is only overtaken for that long.
   */
  delayMs: Record<Exclude<Priority, "critical">, number>;
  /**
   * Subtracted from critical scores so that they sort before every other score. Must exceed the largest
   * timestamp plus the largest delay in use; the default (1e13 ms, year 2286) does for epoch milliseconds.
   */
  criticalOffsetMs: number;
}

/** Defaults: high 0, normal +10 s, low +30 s. */
export const DEFAULT_QUEUE_SCORE_CONFIG: QueueScoreConfig = {
  delayMs: { high: 0, normal: 10_000, low: 30_000 },
  criticalOffsetMs: 1e13,
};

/** The fields {@link queueScore} reads. */
export interface ScoredTask {
  priority: Priority;
  enqueuedAt: number;
  deadlineAt?: number;
  estimatedMs?: number;
}

/**
 * One number per task for a Redis sorted set (lower = dequeued first), so that a per-node queue is a zset
 * with O(log n) add and pop-min.
 *
 * - Non-critical: the task's *virtual start-by time*, `enqueuedAt + delayMs[priority]`. Ordering by it is
 *   earliest-deadline-first on virtual deadlines: higher priorities go first among tasks queued at about the
 *   same time, and a waiting task is overtaken by later higher-priority work only for a bounded time (aging).
 * - Deadline tasks: their *latest start*, `deadlineAt - estimatedMs`, when that is earlier than the virtual
 *   start-by time. Real and virtual deadlines share one timeline, which makes this plain EDF for them.
 * - Critical: the same value minus `criticalOffsetMs`, so every critical task precedes every other task.
 *
 * Relation to {@link MultilevelQueue}: the in-memory queue gives exact weighted shares between levels
 * (stride scheduling) plus an overdue lane; a single score cannot express shares, so the zset form trades
 * them for fixed per-level lead times. Both keep "critical first" and a configured bound on aging.
 */
export function queueScore(task: ScoredTask, config: QueueScoreConfig = DEFAULT_QUEUE_SCORE_CONFIG): number {
  const delay = task.priority === "critical" ? 0 : config.delayMs[task.priority];
  let score = task.enqueuedAt + delay;
  if (task.deadlineAt !== undefined) {
    score = Math.min(score, task.deadlineAt - (task.estimatedMs ?? 0));
  }
  return task.priority === "critical" ? score - config.criticalOffsetMs : score;
}
