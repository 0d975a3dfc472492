import { maskSecrets } from "./secrets.js";
import type { StoredTask } from "./store.js";

/** `raw` parsed as JSON, or undefined when it is missing, empty or not JSON. */
export function parseJson<T>(raw: string | undefined): T | undefined {
  if (raw === undefined || raw === "") return undefined;
  try {
    return JSON.parse(raw) as T;
  } catch {
    return undefined;
  }
}

/**
 * A task record as clients see it: the stored hash with its JSON fields decoded, and its secret values
 * masked (every read of a task, on every wire, goes through here).
 */
export function publicTask(task: StoredTask): Record<string, unknown> {
  const hash = task.fields;
  const record: Record<string, unknown> = {
    id: task.id,
    spec: maskSecrets(task.spec),
    state: task.state,
    attempt: task.attempt,
    epoch: task.epoch,
    createdAt: task.createdAt,
    updatedAt: task.updatedAt,
  };
  if (task.node) record.node = task.node;
  for (const field of ["queuedAt", "startedAt", "finishedAt", "durationMs", "migrations"]) {
    if (hash[field] !== undefined && hash[field] !== "") record[field] = Number(hash[field]);
  }
  if (hash.exitCode !== undefined) record.exitCode = hash.exitCode === "" ? null : Number(hash.exitCode);
  if (hash.signal !== undefined) record.signal = hash.signal === "" ? null : hash.signal;
  for (const field of ["usage", "result", "error", "attempts"]) {
    const value = parseJson<unknown>(hash[field]);
    if (value !== undefined) record[field] = value;
  }
  if (hash.waitingReason) record.waitingReason = hash.waitingReason;
  if (hash.submitter) record.submitter = hash.submitter;
  return record;
}
