/**
 * The MCP tools over streamable HTTP at `/mcp` (stateless: every POST is answered on its own). `http.ts`
 * checks the bearer token before a request gets here; the tools then act through a client of this
 * coordinator opened with that same token, so every tool call meets the access table exactly as the
 * caller's own WebSocket frames would. One client is kept per token and agent id, and closed at stop.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { connect, type FlotillaClient } from "@flotilla/client";
import { AGENT_ID_HEADER, createMcpHttpHandler } from "@flotilla/mcp";
import { AgentNameSchema, ID_PATTERN } from "@flotilla/protocol";
import { allows } from "./access.js";
import type { Principal } from "./auth.js";

/** Where the endpoint's clients connect: this coordinator. */
export interface McpEndpointOptions {
  /** This coordinator's own WebSocket URL. */
  url(): string;
  /** PEM a `wss://` URL's certificate is checked against (the coordinator's own certificate chain). */
  ca(): string | undefined;
}

export class McpEndpoint {
  private readonly clients = new Map<string, Promise<FlotillaClient>>();
  private readonly serve = createMcpHttpHandler();
  private closed = false;

  constructor(private readonly options: McpEndpointOptions) {}

  /**
   * Serves one request of `principal`, who presented `token`. The caller's agent id is the
   * `x-flotilla-agent` header when it is a valid id, else the node of an agent token, else the token's name.
   */
  async handle(principal: Principal, token: string, request: IncomingMessage, response: ServerResponse) {
    const header = request.headers[AGENT_ID_HEADER];
    const named = typeof header === "string" && ID_PATTERN.test(header) ? header : undefined;
    const agentId = named ?? principal.nodeId ?? principal.name;
    const client = await this.clientFor(token, agentId);
    const canApprove = allows(principal.scope, "client project.task.approve");
    await this.serve({ client, agentId, canApprove }, request, response);
  }

  /** Closes every client the endpoint opened. */
  close(): void {
    this.closed = true;
    for (const client of this.clients.values()) client.then((open) => open.close()).catch(() => {});
    this.clients.clear();
  }

  private clientFor(token: string, agentId: string): Promise<FlotillaClient> {
    const key = `${agentId}\u0000${token}`;
    let client = this.clients.get(key);
    if (client === undefined) {
      const ca = this.options.ca();
      // The agent id is also the connection's agent on project claims, when it is a valid agent name.
      const agent = AgentNameSchema.safeParse(agentId).success ? agentId : undefined;
      client = connect({
        url: this.options.url(),
        token,
        clientId: agentId,
        ...(agent === undefined ? {} : { agent }),
        ...(ca === undefined ? {} : { ca }),
      });
      this.clients.set(key, client);
      // A failed connect is not kept: the next request tries again.
      client.catch(() => this.clients.delete(key));
      if (this.closed) this.close();
    }
    return client;
  }
}
