import { mergeConfig } from "vitest/config";
import { sharedConfig } from "../../vitest.shared.js";

export default mergeConfig(sharedConfig, {
  // The MCP SDK depends on eventsource-parser, whose `source` condition points at TypeScript: both are
  // transformed here rather than loaded by Node, which would take that condition and fail on the `.ts`.
  test: { server: { deps: { inline: [/@modelcontextprotocol\/sdk/, /eventsource-parser/] } } },
});
