import type { IncomingMessage, ServerResponse } from "node:http";
import {
  decodeRecord,
  PROTOCOL_VERSION,
  type TaskSpec,
  TaskSpecSchema,
  toFlotillaError,
} from "@flotilla/protocol";
import { allows, forbidden, type Operation } from "./access.js";
import { bearerToken, type Principal } from "./auth.js";
import { serveDashboard } from "./dashboard-files.js";
import { publicTask } from "./records.js";
import type { StoredTask } from "./store.js";
import { COORDINATOR_VERSION } from "./version.js";

/** What the HTTP endpoints need from the coordinator. */
export interface HttpApi {
  /**
   * Redis's connection status ("ready" when it answers), how many nodes are healthy, this coordinator's
   * role (`active`, or `standby` while another holds the leadership lease) and any problem to report.
   */
  health(): { redis: string; healthyNodes: number; role: "active" | "standby"; problem?: string };
  /** This coordinator's role alone: what every `/v1/` request checks, without counting nodes. */
  role(): "active" | "standby";
  /** The Prometheus text, gauges refreshed. */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** Who a bearer token stands for, or undefined when the coordinator accepts no such token. */
  authenticate(token: string | undefined): Principal | undefined;
  /** Whether `GET /metrics` is served without a token. */
  metricsPublic: boolean;
  /** The largest request body taken (the same limit as a WebSocket frame). */
  maxBodyBytes: number;
  /** Submits `spec` for `submitter` (the token's name). */
  submit(spec: TaskSpec, submitter: string): Promise<{ taskId: string; duplicate: boolean; state: string }>;
  getTask(id: string): Promise<StoredTask | undefined>;
  /** Serves the MCP endpoint for `principal`, who presented `token`. */
  mcp(principal: Principal, token: string, request: IncomingMessage, response: ServerResponse): Promise<void>;
  /** The built dashboard served at `/`, or undefined when there is none (see dashboard-files.ts). */
  dashboardDir: string | undefined;
}

/**
 * The coordinator's HTTP endpoints: `GET /healthz`, `GET /metrics`, for curl users (bearer token)
 * `POST /v1/tasks` (a task spec, or `{ "spec": ... }`) and `GET /v1/tasks/<id>`, `GET /v1/whoami` (the
 * token's name and scope, which the dashboard asks before it opens its WebSocket), `/mcp` (the MCP tools
 * over streamable HTTP, see `mcp-endpoint.ts`), and the dashboard's files at every other GET path. Errors
 * are JSON with a stable `code`. Every route but `/healthz` checks the token's scope against the access
 * table: 401 without
 * an accepted token, 403 `E_FORBIDDEN` when its scope may not.
 */
export async function handleHttp(
  api: HttpApi,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const url = new URL(request.url ?? "/", "http://coordinator");
  if (request.method === "GET" && url.pathname === "/healthz") {
    const health = api.health();
    const ok = health.redis === "ready" && health.problem === undefined;
    const body: Record<string, unknown> = {
      ok,
      role: health.role,
      redis: health.redis,
      nodes: health.healthyNodes,
      version: COORDINATOR_VERSION,
      protocol: PROTOCOL_VERSION,
    };
    if (health.problem !== undefined) body.problem = health.problem;
    sendJson(response, ok ? 200 : 503, body);
    return;
  }
  if ((url.pathname.startsWith("/v1/") || url.pathname === "/mcp") && api.role() !== "active") {
    sendJson(response, 503, {
      code: "E_NOT_LEADER",
      message: "this coordinator is a standby: send requests to the active one",
    });
    return;
  }
  if (request.method === "GET" && url.pathname === "/metrics") {
    if (!api.metricsPublic && authorize(api, request, response, "GET /metrics") === undefined) return;
    const metrics = await api.metrics();
    response.writeHead(200, { "content-type": metrics.contentType });
    response.end(metrics.body);
    return;
  }
  if (url.pathname === "/mcp") {
    const principal = authorize(api, request, response, "POST /mcp");
    if (principal !== undefined) await api.mcp(principal, bearerToken(request) ?? "", request, response);
    return;
  }
  if (request.method === "GET" && url.pathname === "/v1/whoami") {
    const principal = authorize(api, request, response, "GET /v1/whoami");
    if (principal !== undefined) sendJson(response, 200, { name: principal.name, scope: principal.scope });
    return;
  }
  if (url.pathname.startsWith("/v1/tasks")) {
    if (request.method === "POST" && url.pathname === "/v1/tasks") {
      const principal = authorize(api, request, response, "POST /v1/tasks");
      if (principal === undefined) return;
      const body = await readBody(request, api.maxBodyBytes);
      if (body === undefined) {
        sendJson(response, 413, {
          code: "E_TOO_LARGE",
          message: `body over ${api.maxBodyBytes} bytes`,
        });
        return;
      }
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        sendJson(response, 400, { code: "E_BAD_JSON", message: "the body is not valid JSON" });
        return;
      }
      const candidate =
        typeof json === "object" && json !== null && "spec" in json ? (json as { spec: unknown }).spec : json;
      const parsed = decodeRecord(TaskSpecSchema, candidate);
      if (!parsed.ok) {
        sendJson(response, 400, parsed.error.toJSON());
        return;
      }
      try {
        const accepted = await api.submit(parsed.value, principal.name);
        sendJson(response, accepted.duplicate ? 200 : 202, accepted);
      } catch (error) {
        const failure = toFlotillaError(error);
        sendJson(response, statusFor(failure.code), failure.toJSON());
      }
      return;
    }
    const match = /^\/v1\/tasks\/([^/]+)$/.exec(url.pathname);
    if (request.method === "GET" && match?.[1]) {
      if (authorize(api, request, response, "GET /v1/tasks/:id") === undefined) return;
      const task = await api.getTask(decodeURIComponent(match[1]));
      if (!task) sendJson(response, 404, { code: "E_NOT_FOUND", message: "no such task" });
      else sendJson(response, 200, publicTask(task));
      return;
    }
  }
  if ((request.method === "GET" || request.method === "HEAD") && !url.pathname.startsWith("/v1/")) {
    await serveDashboard(api.dashboardDir, request, response, url.pathname);
    return;
  }
  sendJson(response, 404, {
    code: "E_NOT_FOUND",
    message: `no route for ${request.method} ${url.pathname}`,
  });
}

/**
 * The principal of a request that may perform `operation`; otherwise answers 401 (no accepted token) or
 * 403 (`E_FORBIDDEN`) and returns undefined.
 */
function authorize(
  api: HttpApi,
  request: IncomingMessage,
  response: ServerResponse,
  operation: Operation,
): Principal | undefined {
  const principal = api.authenticate(bearerToken(request));
  if (principal === undefined) {
    sendJson(response, 401, { code: "E_UNAUTHORIZED", message: "missing or wrong bearer token" });
    return undefined;
  }
  if (!allows(principal.scope, operation)) {
    sendJson(response, 403, forbidden(principal, operation).toJSON());
    return undefined;
  }
  return principal;
}

/** Answers with `body` as JSON. */
export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  response.end(text);
}

/** The HTTP status for an error code. */
function statusFor(code: string): number {
  switch (code) {
    case "E_NOT_FOUND":
      return 404;
    case "E_UNAUTHORIZED":
      return 401;
    case "E_FORBIDDEN":
      return 403;
    case "E_CONFLICT":
      return 409;
    case "E_DRAINING":
    case "E_REDIS_UNAVAILABLE":
      return 503;
    case "E_INTERNAL":
      return 500;
    default:
      return 400;
  }
}

/** The request body, or undefined when it is over `limit` bytes. */
async function readBody(request: IncomingMessage, limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) return undefined;
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}
