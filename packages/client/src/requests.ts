/**
 * Small helpers of the client's request path: which requests are safe to send again after a lost
 * connection, id checks, and reading what a frame that failed to decode still says.
 */
import { FlotillaError, ID_PATTERN } from "@flotilla/protocol";

/** Requests safe to send again after a lost connection (the coordinator dedupes or they change nothing). */
const IDEMPOTENT = new Set([
  "projects.list",
  "project.read",
  "project.tasks.list",
  "project.task.read",
  "task.submit",
  // Every spec carries an idempotency key (added when it had none): a frame sent again submits nothing twice.
  "task.submitMany",
  "task.get",
  "task.events",
  "tasks.list",
  "nodes.list",
  "task.cancel",
  "node.drain",
  "node.undrain",
  "dlq.list",
  "alerts.list",
  "history.get",
  "dlq.get",
  "topic.read",
  "inbox.read",
  "output.read",
]);

/** Whether a request of this type may be sent again after a lost connection. */
export function isIdempotent(type: string): boolean {
  return IDEMPOTENT.has(type);
}

/** Whether a task id passes the schema, so a frame carrying it can skip the full check. */
export function isId(value: string): boolean {
  return ID_PATTERN.test(value);
}

/** The error of a request made on (or left pending by) a closed client. */
export function closedError(): FlotillaError {
  return new FlotillaError("E_COORDINATOR_UNAVAILABLE", "the client is closed — connect again");
}

/** `value` as a record: itself when it is an object, else `{ value }`. */
export function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : { value };
}

/** The top-level fields of a frame that failed to decode, as far as they can be read. */
export function peek(raw: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(raw);
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
