/**
 * The Flotilla MCP server: one `McpServer` with the fleet, chat, topic and project tools, speaking to the fleet
 * through a connected `@flotilla/client`. The transports (stdio in `stdio.ts`, streamable HTTP in
 * `http.ts`) each build one with this function.
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { registerChatTools } from "./chat-tools.js";
import type { ToolContext } from "./context.js";
import { registerFleetTools } from "./fleet-tools.js";
import { registerProjectTools } from "./project-tools.js";

/** The server's name and version as MCP clients see them. */
export const SERVER_INFO = { name: "flotilla", version: "0.1.0" } as const;

/** Options of {@link createFlotillaMcpServer}. */
export type FlotillaMcpOptions = ToolContext;

/** An MCP server with every Flotilla tool, not yet connected to a transport. */
export function createFlotillaMcpServer(options: FlotillaMcpOptions): McpServer {
  const server = new McpServer(SERVER_INFO, {
    instructions:
      "Flotilla runs commands on a fleet of machines, lets the agents on them talk, and keeps shared project task lists. run_command runs a command and waits; send_message, broadcast and publish reach other agents; read_messages and read_topic catch up from the last seq seen; create_project, claim_next_task and update_task share work between agents.",
  });
  registerFleetTools(server, options);
  registerChatTools(server, options);
  registerProjectTools(server, options);
  return server;
}
