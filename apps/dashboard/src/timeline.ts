/** A task's state changes as the task page lists them. */
import type { TaskEvent } from "@flotilla/client";
import type { TaskRecord } from "@flotilla/protocol";

/** One row of the state-change table. */
export interface Change {
  at: number;
  state: string;
  node?: string | undefined;
  reason?: string | undefined;
}

/**
 * Every state change the page can tell, in time order, each once: the task's stored changes (read with
 * `task.events` when the page opens) and those seen live since, and from the record what they do not
 * cover: when it was accepted, each earlier attempt's end, and its queued, started and finished times
 * (the stored list is bounded, and a coordinator without `task.events` sends none).
 */
export function timeline(record: TaskRecord, events: readonly TaskEvent[]): Change[] {
  const fromRecord: Change[] = [{ at: record.createdAt, state: "accepted" }];
  for (const attempt of record.attempts ?? []) {
    fromRecord.push({
      at: attempt.at,
      state: `attempt ${attempt.attempt} ended`,
      node: attempt.node,
      reason: attempt.reason,
    });
  }
  const latest: Change[] = [];
  if (record.queuedAt !== undefined) latest.push({ at: record.queuedAt, state: "queued", node: record.node });
  if (record.startedAt !== undefined)
    latest.push({ at: record.startedAt, state: "running", node: record.node });
  if ("finishedAt" in record) latest.push({ at: record.finishedAt, state: record.state, node: record.node });
  // An event says more (its node, its reason, its exact time) than the record's time for the same state
  // of the same attempt: the event is kept.
  const known = new Set(events.map((event) => `${event.state}#${event.attempt}`));
  fromRecord.push(...latest.filter((change) => !known.has(`${change.state}#${record.attempt}`)));
  const changes = [
    ...fromRecord,
    ...events.map((event) => ({ at: event.at, state: event.state, node: event.node, reason: event.reason })),
  ];
  const once = new Set<string>();
  return changes
    .sort((a, b) => a.at - b.at)
    .filter((change) => {
      const key = `${change.state}@${change.at}@${change.node ?? ""}`;
      if (once.has(key)) return false;
      once.add(key);
      return true;
    });
}
