import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createCoordinator } from "@flotilla/coordinator";
import { createAgent } from "@flotilla/node-agent";
import { type RedisServer, startRedis } from "@flotilla/testing";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { expect } from "vitest";

const cliRoot = join(dirname(fileURLToPath(import.meta.url)), "..");

/** A real fleet (redis-server, coordinator, one agent) and MCP clients of it. */
export interface McpFleet {
  token: string;
  coordinator: ReturnType<typeof createCoordinator>;
  /** What the MCP clients' transports could not read (a line on stdout that is not the protocol, say). */
  protocolErrors: Error[];
  /** `flotilla mcp` as a subprocess, driven by the SDK's own client over stdio. */
  stdio(agentId: string): Promise<Client>;
  /** The coordinator's `/mcp`, driven by the SDK's client over streamable HTTP (fleet token by default). */
  http(agentId: string, token?: string): Promise<Client>;
  dispose(): Promise<void>;
}

/** A token of `submit` scope the fleet accepts besides its admin token. */
export const SUBMIT_TOKEN = "laptop-secret";

export async function startMcpFleet(): Promise<McpFleet> {
  const token = "mcp-test-token";
  const redis: RedisServer = await startRedis();
  const coordinator = createCoordinator({
    redisUrl: redis.url,
    token,
    tokens: [
      { name: "laptop", scope: "submit", hash: createHash("sha256").update(SUBMIT_TOKEN).digest("hex") },
    ],
    port: 0,
    host: "127.0.0.1",
  });
  await coordinator.start();
  const agent = createAgent({ id: "box", coordinatorUrl: coordinator.url, token, slots: 4 });
  await agent.start();
  const clients: Client[] = [];
  const protocolErrors: Error[] = [];
  const open = async (transport: StdioClientTransport | StreamableHTTPClientTransport) => {
    const client = new Client({ name: "flotilla-test", version: "0.0.0" });
    client.onerror = (error) => protocolErrors.push(error);
    await client.connect(transport);
    clients.push(client);
    return client;
  };
  return {
    token,
    coordinator,
    protocolErrors,
    stdio: (agentId) =>
      open(
        new StdioClientTransport({
          command: process.execPath,
          args: ["--conditions=source", "--import", "tsx", "src/main.ts", "mcp"],
          cwd: cliRoot,
          env: {
            ...(process.env as Record<string, string>),
            FLOTILLA_URL: coordinator.url,
            FLOTILLA_TOKEN: token,
            FLOTILLA_AGENT_ID: agentId,
            XDG_CONFIG_HOME: join(cliRoot, "test", "no-config"),
          },
          stderr: "inherit",
        }),
      ),
    http: (agentId, bearer = token) =>
      open(
        new StreamableHTTPClientTransport(new URL(`${coordinator.url.replace(/^ws/, "http")}/mcp`), {
          requestInit: { headers: { authorization: `Bearer ${bearer}`, "x-flotilla-agent": agentId } },
        }),
      ),
    async dispose() {
      await Promise.allSettled(clients.map((client) => client.close()));
      await agent.stop({ now: true });
      await coordinator.stop();
      await redis.dispose();
    },
  };
}

/** Calls a tool that must succeed; its JSON answer. */
export async function call<T = Record<string, unknown>>(
  client: Client,
  name: string,
  args: Record<string, unknown> = {},
): Promise<T> {
  const result = await client.callTool({ name, arguments: args });
  const text = (result.content as { type: string; text: string }[])[0]?.text ?? "";
  expect(result.isError, `${name}: ${text}`).not.toBe(true);
  return JSON.parse(text) as T;
}

/** Calls a tool that must fail; the error's JSON (code, message, hint). */
export async function refused(
  client: Client,
  name: string,
  args: Record<string, unknown> = {},
): Promise<{ code?: string; message: string; hint?: string; details?: Record<string, unknown> }> {
  const result = await client.callTool({ name, arguments: args });
  const text = (result.content as { type: string; text: string }[])[0]?.text ?? "";
  expect(result.isError, `${name} should fail: ${text}`).toBe(true);
  try {
    return JSON.parse(text) as { code: string; message: string; hint: string };
  } catch {
    return { message: text };
  }
}
