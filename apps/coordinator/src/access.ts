/**
 * Who may do what: the one table of operations × scopes. An operation is a WebSocket frame type as sent on
 * one endpoint (`client task.submit`, `agent task.finish`) or an HTTP route (`POST /v1/tasks`). The
 * transport checks every frame against it before its handler runs, and http.ts every request; both refuse
 * with `E_FORBIDDEN`. `/mcp` lets every scope in: each tool acts through a client with the caller's own
 * token, so the frame entries below decide what it may do. Finer rules that need the task (a `submit` token cancels only its own tasks; an agent
 * reports only on runs leased to its node) are applied where the task is at hand, and named here.
 */
import { FlotillaError } from "@flotilla/protocol";
import type { Principal, ScopeKind } from "./auth.js";

const ALL: readonly ScopeKind[] = ["admin", "submit", "read", "agent"];
const READERS: readonly ScopeKind[] = ["admin", "submit", "read"];
const SUBMITTERS: readonly ScopeKind[] = ["admin", "submit"];
const ADMIN: readonly ScopeKind[] = ["admin"];
const AGENTS: readonly ScopeKind[] = ["admin", "agent"];

/**
 * Every operation and the scopes allowed it. `admin` may do everything; a `submit` token's cancel is
 * further limited to the tasks it submitted; an `agent:<id>` token's frames to node `<id>` and to the
 * runs leased to it.
 */
export const ACCESS = {
  "client task.submit": SUBMITTERS,
  "client task.submitMany": SUBMITTERS,
  "client task.cancel": SUBMITTERS,
  "client task.watch": READERS,
  "client task.unwatch": READERS,
  "client task.get": READERS,
  "client task.events": READERS,
  "client tasks.list": READERS,
  "client nodes.list": READERS,
  "client events.watch": READERS,
  "client discovery.query": READERS,
  "client dlq.list": READERS,
  "client dlq.get": READERS,
  "client alerts.list": READERS,
  "client history.get": READERS,
  "client dlq.retry": ADMIN,
  "client dlq.purge": ADMIN,
  "client node.drain": ADMIN,
  "client node.undrain": ADMIN,
  "client broadcast": SUBMITTERS,
  "client direct": SUBMITTERS,
  "client topic.publish": SUBMITTERS,
  "client topic.read": READERS,
  "client inbox.read": READERS,
  "client output.read": READERS,
  "client projects.list": READERS,
  "client project.read": READERS,
  "client project.tasks.list": READERS,
  "client project.task.read": READERS,
  "client project.create": SUBMITTERS,
  "client project.delete": SUBMITTERS,
  "client project.addTasks": SUBMITTERS,
  "client project.finalize": SUBMITTERS,
  "client project.task.create": SUBMITTERS,
  "client project.task.update": SUBMITTERS,
  "client project.task.delete": SUBMITTERS,
  "client project.task.next": SUBMITTERS,
  "client project.task.claim": SUBMITTERS,
  // Approving a project task is a person's act: an agent's submit token cannot approve its own work.
  "client project.task.approve": ADMIN,
  "agent agent.hello": AGENTS,
  "agent heartbeat": AGENTS,
  "agent agent.bye": AGENTS,
  "agent task.accept": AGENTS,
  "agent task.reject": AGENTS,
  "agent task.output": AGENTS,
  "agent task.progress": AGENTS,
  "agent task.finish": AGENTS,
  "agent steal.request": AGENTS,
  "agent broadcast": AGENTS,
  "agent direct": AGENTS,
  "agent discovery.query": AGENTS,
  "agent topic.publish": AGENTS,
  "agent topic.read": AGENTS,
  "agent inbox.read": AGENTS,
  "POST /v1/tasks": SUBMITTERS,
  "GET /v1/tasks/:id": READERS,
  "GET /v1/whoami": READERS,
  "GET /metrics": READERS,
  "POST /mcp": ALL,
} as const satisfies Record<string, readonly ScopeKind[]>;

/** An operation of the table. */
export type Operation = keyof typeof ACCESS;

/** Every scope kind, in the table's order (for the table's test and docs). */
export const SCOPES = ALL;

const BIT: Record<ScopeKind, number> = { admin: 1, submit: 2, read: 4, agent: 8 };
const MASKS = new Map<string, number>(
  Object.entries(ACCESS).map(([operation, scopes]) => [
    operation,
    scopes.reduce((mask, scope) => mask | BIT[scope], 0),
  ]),
);

/** Whether `scope` may perform `operation` (an operation missing from the table is allowed no one). */
export function allows(scope: ScopeKind, operation: string): boolean {
  return ((MASKS.get(operation) ?? 0) & BIT[scope]) !== 0;
}

/**
 * The scopes allowed each frame type of one endpoint, as bit masks, so the transport's check per frame is
 * one map lookup and an AND.
 */
export function frameMasks(endpoint: "client" | "agent"): Map<string, number> {
  const masks = new Map<string, number>();
  const prefix = `${endpoint} `;
  for (const [operation, mask] of MASKS) {
    if (operation.startsWith(prefix)) masks.set(operation.slice(prefix.length), mask);
  }
  return masks;
}

/** Whether a scope is in a mask from `frameMasks`. */
export function inMask(mask: number | undefined, scope: ScopeKind): boolean {
  return ((mask ?? 0) & BIT[scope]) !== 0;
}

/** The refusal of `operation` to `principal`. */
export function forbidden(principal: Principal, operation: string, why?: string): FlotillaError {
  const scope = principal.nodeId === undefined ? principal.scope : `agent:${principal.nodeId}`;
  return new FlotillaError(
    "E_FORBIDDEN",
    `token "${principal.name}" (scope ${scope}) may not ${operation}${why ? `: ${why}` : ""}`,
    { details: { scope, operation } },
  );
}
