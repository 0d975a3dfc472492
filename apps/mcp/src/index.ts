export type { ToolContext } from "./context.js";
export { AGENT_ID_HEADER, createMcpHttpHandler, type McpCaller, type McpHttpHandler } from "./http.js";
export { mayApprove } from "./project-tools.js";
export { answer, jsonResult, type ToolResult, toolError } from "./results.js";
export { createFlotillaMcpServer, type FlotillaMcpOptions, SERVER_INFO } from "./server.js";
export { serveStdio } from "./stdio.js";
