import WebSocket from "ws";
import { type FaultFleet, type ScenarioReport, sleep } from "./harness.js";

/**
 * What scenarios share beyond the harness: the fleet shape most of them use, the result type, and the
 * probes they wait on (a fleet event, a coordinator's `/healthz`, a process exit), each bounded in time so
 * a missing feature fails the scenario with a reason instead of hanging it.
 */

/** What a scenario is given: where its process logs and its tasks' run log go. */
export interface ScenarioContext {
  log: (line: string) => void;
  /** The file the scenario's tasks append their runs to (fresh for each scenario). */
  runLog: string;
}

/** What a scenario returns: its report line and any broken invariant. */
export interface ScenarioResult {
  report: ScenarioReport | { fault: string; skipped: string };
  violations: string[];
}

/** A scenario of the suite. */
export type Scenario = (context: ScenarioContext) => Promise<ScenarioResult>;

/** Three agents with two slots each: the fleet of most scenarios. */
export const THREE_AGENTS = [
  { id: "alpha", slots: 2 },
  { id: "bravo", slots: 2 },
  { id: "charlie", slots: 2 },
];
/** How long a scenario's accepted tasks may take to finish once the fault is over. */
export const FINISH_WITHIN_MS = 120_000;

/** The node currently running the most tasks, per the coordinator. */
export async function busiestNode(fleet: FaultFleet, among: readonly string[]): Promise<string> {
  const nodes = await fleet.client.nodes();
  const candidates = nodes.filter((node) => among.includes(node.id) && node.health === "healthy");
  candidates.sort((a, b) => b.slotsUsed - a.slotsUsed);
  return candidates[0]?.id ?? (among[0] as string);
}

/** Resolves with the time of the first fleet event `type` of `node` at or after `after`. */
export async function waitForEvent(
  fleet: FaultFleet,
  type: string,
  node: string,
  after: number,
  timeoutMs = 20_000,
): Promise<number> {
  const at = await pollUntil(
    timeoutMs,
    25,
    () => fleet.events.find((event) => event.type === type && event.node === node && event.at >= after)?.at,
  );
  if (at === undefined) throw new Error(`no ${type} event for ${node} within ${timeoutMs} ms`);
  return at;
}

/** Calls `probe` every `everyMs` until it returns a value (resolved with it) or `timeoutMs` passes (undefined). */
export async function pollUntil<T>(
  timeoutMs: number,
  everyMs: number,
  probe: () => T | undefined | Promise<T | undefined>,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) return undefined;
    await sleep(everyMs);
  }
}

/** A coordinator's `/healthz` answer: the HTTP status and the JSON body (null when unreachable). */
export interface Health {
  status: number;
  body: Record<string, unknown> | null;
}

/** Reads `/healthz` of the coordinator at `wsUrl` (its WebSocket address); status 0 when unreachable. */
export async function healthz(wsUrl: string): Promise<Health> {
  const url = new URL("/healthz", wsUrl.replace(/^ws/, "http"));
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
    const text = await response.text();
    let body: Record<string, unknown> | null = null;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      body = { text };
    }
    return { status: response.status, body };
  } catch {
    return { status: 0, body: null };
  }
}

/** The role a coordinator reports: `active`, `standby`, `unreachable`, or `unknown` when it says none. */
export function roleOf(health: Health): string {
  if (health.body === null) return "unreachable";
  const role = health.body.role;
  return typeof role === "string" ? role : "unknown";
}

/** Resolves true once the process has exited, false if it is still running after `timeoutMs`. */
export async function exitsWithin(exited: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const result = await Promise.race([exited.then(() => true as const), timedOut]);
  clearTimeout(timer);
  return result;
}

/**
 * The HTTP status a coordinator answers a client WebSocket upgrade with: 101 when it takes the
 * connection, 503 when it is a standby, 0 when it cannot be reached.
 */
export async function upgradeStatus(wsUrl: string, token: string): Promise<number> {
  return await new Promise((resolve) => {
    const socket = new WebSocket(new URL("/v1/client", wsUrl), {
      headers: { authorization: `Bearer ${token}` },
      handshakeTimeout: 2000,
    });
    socket.once("open", () => {
      socket.close();
      resolve(101);
    });
    socket.once("unexpected-response", (_request, response) => {
      resolve(response.statusCode ?? 0);
      socket.terminate();
    });
    socket.once("error", () => resolve(0));
  });
}
