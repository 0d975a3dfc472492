/**
 * `flotilla mcp`: the fleet, chat and project tools as an MCP server on stdin/stdout, for AI coding
 * agents (`claude mcp add flotilla -- flotilla mcp`). Settings and token as for every command; stdout
 * carries the protocol and nothing else. The agent id names the caller on the chat channels and, as the
 * connection's agent, on project claims; `approve_task` is offered only when the token may approve.
 */
import { hostname } from "node:os";
import { nodeIdFromHost } from "@flotilla/protocol";
import type { CommandSpec } from "../cli.js";
import { EXIT } from "../exit-codes.js";

/** `flotilla mcp`. */
export const mcpCommand: CommandSpec = {
  name: "mcp",
  summary: "serve the fleet as MCP tools over stdio, for AI coding agents",
  usage: "flotilla mcp [--agent-id ID] [--capabilities A,B]",
  options: {
    "agent-id": {
      type: "string",
      value: "ID",
      description: "whose inbox read_messages reads (env FLOTILLA_AGENT_ID; default: this machine's node id)",
    },
    capabilities: {
      type: "string",
      value: "A,B",
      description: "what this agent can do, matched against project tasks' needs (env FLOTILLA_CAPABILITIES)",
    },
  },
  args: { min: 0, max: 0 },
  details: `Speaks the Model Context Protocol on stdin/stdout until stdin closes. The coordinator URL, token
and CA come from the usual flags, FLOTILLA_URL / FLOTILLA_TOKEN / FLOTILLA_CA or the config file. Add it
to Claude Code with \`claude mcp add flotilla -- flotilla mcp\`.`,
  examples: ["flotilla mcp", "claude mcp add flotilla -- flotilla mcp"],
  async run(context) {
    const given = context.values["agent-id"];
    const agentId =
      typeof given === "string" ? given : context.io.env.FLOTILLA_AGENT_ID || nodeIdFromHost(hostname());
    const listed = context.values.capabilities;
    const capabilities = (typeof listed === "string" ? listed : (context.io.env.FLOTILLA_CAPABILITIES ?? ""))
      .split(",")
      .map((capability) => capability.trim())
      .filter((capability) => capability !== "");
    // Loaded here, not at start: the MCP SDK is the heaviest import of the CLI and only this command needs it.
    const { mayApprove, serveStdio } = await import("@flotilla/mcp");
    const client = await context.client({ clientId: agentId, agent: agentId, capabilities });
    await serveStdio({ client, agentId, canApprove: await mayApprove(client) });
    return EXIT.OK;
  },
};
