/**
 * What every tool group needs: the SDK client it speaks to the fleet through, and who the caller is on
 * the chat channels.
 */
import type { FlotillaClient } from "@flotilla/client";

/** Options of {@link createFlotillaMcpServer} (see `server.ts`). */
export interface ToolContext {
  /** A connected client; the server never closes it. */
  client: FlotillaClient;
  /**
   * The caller's agent id: whose inbox `read_messages` reads (`agent:{id}:messages`), and the `from` of
   * what it sends. Usually the node id of the machine the agent runs on.
   */
  agentId: string;
  /** Whether the token may approve project tasks: `approve_task` is offered only then. */
  canApprove?: boolean;
}
