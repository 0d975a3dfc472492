/** Helpers of the project tests: agents' connections, refusals, what a channel publishes. */
import { connect, type FlotillaClient } from "@flotilla/client";
import { type ErrorCode, isFlotillaError } from "@flotilla/protocol";
import { Redis } from "ioredis";
import { tokenHash } from "../src/auth.js";
import type { TestFleet } from "./fleet.js";

/** What a refused call rejected with: its code and the rule it broke. */
export async function refusal(call: Promise<unknown>): Promise<{ code: ErrorCode; rule: unknown }> {
  try {
    await call;
  } catch (error) {
    if (isFlotillaError(error)) return { code: error.code, rule: error.details?.rule };
    throw error;
  }
  throw new Error("the call was not refused");
}

export const MAC_TOKEN = "mac-secret";
export const VPS_TOKEN = "vps-secret";
export const tokens = [
  { name: "mac", scope: "submit" as const, hash: tokenHash(MAC_TOKEN) },
  { name: "vps", scope: "submit" as const, hash: tokenHash(VPS_TOKEN) },
];

/** An agent's connection: a submit token, an agent name and capabilities. */
export async function agentClient(
  fleet: TestFleet,
  token: string,
  agent: string,
  capabilities: string[] = [],
): Promise<FlotillaClient> {
  const client = await connect({ url: fleet.coordinator.url, token, agent, capabilities });
  fleet.clients.push(client);
  return client;
}

/** Collects what a channel publishes, parsed. */
export async function listen(fleet: TestFleet, channel: string): Promise<{ seen: unknown[]; close(): void }> {
  const subscriber = new Redis(fleet.redis.url);
  const seen: unknown[] = [];
  subscriber.on("message", (_channel: string, message: string) => seen.push(JSON.parse(message)));
  await subscriber.subscribe(channel);
  return { seen, close: () => subscriber.disconnect() };
}
