/**
 * MCP over stdio: stdin and stdout carry the protocol and nothing else (anything for people goes to
 * stderr). Serves until stdin closes.
 */
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { createFlotillaMcpServer, type FlotillaMcpOptions } from "./server.js";

/** Serves the tools on this process's stdin/stdout; resolves once the client has gone. */
export async function serveStdio(options: FlotillaMcpOptions): Promise<void> {
  const server = createFlotillaMcpServer(options);
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => process.stdin.once("end", resolve));
  await server.connect(transport);
  await closed;
  await server.close();
}
