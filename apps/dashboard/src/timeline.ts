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
 * Every state change the page can tell: the record's own times (created, each earlier attempt's end,
 * queued, started, finished) and the events seen live since the page opened, in time order, each once.
 */
export function timeline(record: TaskRecord, live: readonly TaskEvent[]): Change[] {
  const fromRecord: Change[] = [{ at: record.createdAt, state: "accepted" }];
  for (const attempt of record.attempts ?? []) {
    fromRecord.push({
      at: attempt.at,
      state: `attempt ${attempt.attempt} ended`,
      node: attempt.node,
      reason: attempt.reason,
    });
  }
  if (record.queuedAt !== undefined)
    fromRecord.push({ at: record.queuedAt, state: "queued", node: record.node });
  if (record.startedAt !== undefined)
    fromRecord.push({ at: record.startedAt, state: "running", node: record.node });
  if ("finishedAt" in record)
    fromRecord.push({ at: record.finishedAt, state: record.state, node: record.node });
  // A change seen live says more (its reason) than the record's time for it: the live one is kept.
  const seenLive = new Set(live.map((event) => `${event.state}@${event.node ?? ""}`));
  const changes = [
    ...fromRecord.filter((change) => !seenLive.has(`${change.state}@${change.node ?? ""}`)),
    ...live.map((event) => ({ at: event.at, state: event.state, node: event.node, reason: event.reason })),
  ];
  const once = new Set<string>();
  return changes
    .sort((a, b) => a.at - b.at)
    .filter((change) => {
      const key = `${change.state}@${change.at}`;
      if (once.has(key)) return false;
      once.add(key);
      return true;
    });
}
