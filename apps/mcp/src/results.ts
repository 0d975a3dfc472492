/**
 * What a tool answers: JSON text in the first content item, or an MCP tool error (`isError`) whose text
 * is JSON with the Flotilla error `code`, the `message`, whether a retry may help, and a `hint` saying
 * what to do next. Anything thrown in a tool passes through {@link toolError}; nothing reaches the client
 * as a stack trace.
 */
import { type ErrorCode, toFlotillaError } from "@flotilla/protocol";

/** A tool's answer as the MCP SDK takes it. */
export interface ToolResult {
  [key: string]: unknown;
  content: { type: "text"; text: string }[];
  isError?: boolean;
}

/** What to do about each error an agent is likely to meet. */
const HINTS: Partial<Record<ErrorCode, string>> = {
  E_NOT_FOUND: "check the id: list_nodes, command_status, list_projects and list_tasks show what exists",
  E_FORBIDDEN: "this token's scope does not allow it: ask whoever runs the fleet for a token that may",
  E_UNAUTHORIZED: "the token was refused: check FLOTILLA_TOKEN (or the CLI config file)",
  E_COORDINATOR_UNAVAILABLE:
    "the coordinator did not answer: check FLOTILLA_URL and that the coordinator runs, then retry",
  E_SCHEMA: "an argument has the wrong shape: fix the field named in the message and call again",
  E_INVALID_ARGUMENT: "an argument is not acceptable: fix the field named in the message and call again",
  E_CONFLICT: "the item is in a state that refuses this: read it again, then decide",
  E_NODE_UNAVAILABLE: "no healthy node has what the command needs: list_nodes shows each node's capabilities",
  E_QUEUE_FULL: "the fleet is saturated: retry in a little while",
  E_RATE_LIMITED: "too many requests: retry in a little while",
  E_DRAINING: "the target is draining: pick another node or retry later",
  E_NOT_LEADER: "a standby answered: the client follows the active coordinator, retry",
  E_REDIS_UNAVAILABLE: "the fleet's Redis is unreachable: retry once it is back",
};

/** A successful answer: `value` as JSON text. */
export function jsonResult(value: unknown): ToolResult {
  return { content: [{ type: "text", text: JSON.stringify(value, null, 2) }] };
}

/** An MCP tool error carrying the Flotilla code and a hint. */
export function toolError(error: unknown): ToolResult {
  const failure = toFlotillaError(error);
  // A refusal that names its rule (the project rules) carries its own hint.
  const ruleHint = failure.details?.hint;
  const hint =
    (typeof ruleHint === "string" ? ruleHint : undefined) ??
    HINTS[failure.code] ??
    (failure.retryable ? "retry in a little while" : "see the message for what to change");
  const body: Record<string, unknown> = {
    code: failure.code,
    message: failure.message,
    retryable: failure.retryable,
    hint,
  };
  if (failure.details !== undefined) body.details = failure.details;
  return { content: [{ type: "text", text: JSON.stringify(body, null, 2) }], isError: true };
}

/** Runs a tool body, turning its value into a JSON answer and anything it throws into a tool error. */
export async function answer(body: () => Promise<unknown>): Promise<ToolResult> {
  try {
    return jsonResult(await body());
  } catch (error) {
    return toolError(error);
  }
}
