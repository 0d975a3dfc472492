/**
 * MCP over streamable HTTP, stateless: each POST builds a server for the caller, answers its JSON-RPC
 * message(s) as JSON, and is done; GET and DELETE (sessions, server-sent streams) are refused with 405.
 * Who the caller is and which client speaks for it is the host's business (`clientFor`): the coordinator
 * mounts this at `/mcp` after checking the bearer token.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { FlotillaClient } from "@flotilla/client";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { createFlotillaMcpServer } from "./server.js";

/** Who a request comes from, as the host established it. */
export interface McpCaller {
  /** A connected client acting with the caller's rights. */
  client: FlotillaClient;
  /** The caller's agent id (whose inbox `read_messages` reads). */
  agentId: string;
  /** Whether the caller's token may approve project tasks. */
  canApprove?: boolean;
}

/** Answers one HTTP request to the MCP endpoint. */
export type McpHttpHandler = (request: IncomingMessage, response: ServerResponse) => Promise<void>;

/** The header an HTTP caller names its agent id in (otherwise the host picks one). */
export const AGENT_ID_HEADER = "x-flotilla-agent";

/** A handler for the MCP endpoint that serves `caller`'s tools. */
export function createMcpHttpHandler(): (
  caller: McpCaller,
  request: IncomingMessage,
  response: ServerResponse,
) => Promise<void> {
  return async (caller, request, response) => {
    if (request.method !== "POST") {
      response.writeHead(405, { allow: "POST", "content-type": "application/json" });
      response.end(
        JSON.stringify({
          jsonrpc: "2.0",
          error: { code: -32000, message: "this endpoint is stateless: POST JSON-RPC messages" },
          id: null,
        }),
      );
      return;
    }
    const server = createFlotillaMcpServer(caller);
    const transport = new StreamableHTTPServerTransport({ enableJsonResponse: true });
    response.on("close", () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(request, response);
  };
}
