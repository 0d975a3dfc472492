/**
 * The doctor's view of the coordinator: reachable (`GET /healthz`, which needs no token), the token
 * accepted (a client session lists the nodes), the versions of coordinator, this machine's agent and
 * this CLI, and this node as the fleet sees it (fingerprint, capabilities).
 */
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { FlotillaClient, NodeView } from "@flotilla/client";
import { isFlotillaError, parseCoordinatorUrls } from "@flotilla/protocol";
import { type Check, fail, ok, reason, warn, within } from "./check.js";

const TIMEOUT_MS = 5_000;

/** What `/healthz` says. */
interface Health {
  ok?: boolean;
  role?: string;
  redis?: string;
  nodes?: number;
  version?: string;
  protocol?: number;
  problem?: string;
}

/** GETs `/healthz` of the coordinator at a `ws://` or `wss://` URL. */
function health(url: string, ca: string | undefined): Promise<Health> {
  const base = new URL(url.replace(/^ws/, "http"));
  const target = new URL("/healthz", base);
  const request = target.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      { method: "GET", timeout: TIMEOUT_MS, ...(ca === undefined ? {} : { ca }) },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () => {
          try {
            resolve(JSON.parse(body) as Health);
          } catch {
            reject(new Error(`HTTP ${res.statusCode} without JSON: is this a Flotilla coordinator?`));
          }
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    req.on("error", reject);
    req.end();
  });
}

/** What the coordinator checks found, for the checks after them. */
export interface CoordinatorFindings {
  checks: Check[];
  version?: string;
  nodes?: NodeView[];
}

/** Checks the coordinator at `url` (the first of a list) and the token. */
export async function coordinatorChecks(
  url: string,
  ca: string | undefined,
  client: () => Promise<FlotillaClient>,
): Promise<CoordinatorFindings> {
  const first = parseCoordinatorUrls(url)[0] ?? url;
  let found: Health;
  try {
    found = await health(first, ca);
  } catch (error) {
    return {
      checks: [
        fail(
          "coordinator",
          `cannot reach ${first}: ${reason(error)}`,
          "start it (flotilla-coordinator service install) or fix --url / FLOTILLA_URL; for wss:// pass --ca",
        ),
        warn("token", "not tried: the coordinator cannot be reached", "fix the coordinator first"),
      ],
    };
  }
  const findings: CoordinatorFindings = { checks: [] };
  if (found.version !== undefined) findings.version = found.version;
  const said = `${first}: ${found.role ?? "?"}, Redis ${found.redis ?? "?"}, ${found.nodes ?? 0} healthy node(s)`;
  if (found.ok === true && found.role === "active") findings.checks.push(ok("coordinator", said));
  else if (found.role === "standby")
    findings.checks.push(
      warn("coordinator", `${said} (a standby)`, "list the active coordinator first in --url"),
    );
  else
    findings.checks.push(
      fail(
        "coordinator",
        `${said}${found.problem ? `: ${found.problem}` : ""}`,
        "check the coordinator's log and its Redis",
      ),
    );
  try {
    const session = await within(client(), TIMEOUT_MS * 2, "the coordinator");
    findings.nodes = await within(session.nodes(), TIMEOUT_MS, "nodes.list");
    findings.checks.push(ok("token", `accepted: ${findings.nodes.length} node(s) listed`));
  } catch (error) {
    const code = isFlotillaError(error) ? error.code : undefined;
    findings.checks.push(
      code === "E_UNAUTHORIZED" || code === "E_FORBIDDEN"
        ? fail(
            "token",
            `refused by the coordinator (${code})`,
            "check --token, FLOTILLA_TOKEN or the config file (flotilla config)",
          )
        : fail("token", `could not be tried: ${reason(error)}`, "check the coordinator's log"),
    );
  }
  return findings;
}

/** The versions of the CLI, the coordinator and this node's agent: a warning when they differ. */
export function versionsCheck(
  cli: string,
  coordinator: string | undefined,
  agent: NodeView | undefined,
): Check {
  const parts = [
    `flotilla ${cli}`,
    `coordinator ${coordinator ?? "unknown"}`,
    `agent ${agent?.version ?? "not seen"}`,
  ];
  const known = [cli, coordinator, agent?.version].filter((v): v is string => v !== undefined);
  if (new Set(known).size > 1)
    return warn(
      "versions",
      parts.join(", "),
      "upgrade the older ones (docs/deploy.md, Upgrades): a rolling upgrade keeps work flowing",
    );
  return ok("versions", parts.join(", "));
}

/** This node as the fleet sees it. */
export function nodeCheck(
  nodeId: string,
  hostName: string,
  nodes: NodeView[] | undefined,
): { check: Check; node?: NodeView } {
  if (nodes === undefined)
    return {
      check: warn(
        "this node",
        `${nodeId}: unknown (the fleet could not be listed)`,
        "fix the coordinator and token first",
      ),
    };
  const node = nodes.find((n) => n.id === nodeId) ?? nodes.find((n) => n.host === hostName);
  if (node === undefined)
    return {
      check: warn(
        "this node",
        `${nodeId} is not in the fleet`,
        "start the agent here (flotilla-agent service install), or pass --node <id>",
      ),
    };
  const detail = `${node.id}: ${node.os}/${node.arch}, ${node.slotsTotal} slots, ${node.health}${node.draining ? ", draining" : ""}; capabilities ${node.capabilities.join(", ")}`;
  return {
    check:
      node.health === "healthy"
        ? ok("this node", detail)
        : warn("this node", detail, "flotilla-agent service status; service logs"),
    node,
  };
}
