import { connect, type FlotillaClient } from "@flotilla/client";
import { type Agent, type AgentOptions, createAgent } from "@flotilla/node-agent";
import type { Fingerprint } from "@flotilla/protocol";
import { type RedisServer, startRedis } from "@flotilla/testing";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, beforeAll } from "vitest";
import { type Coordinator, createCoordinator } from "../src/index.js";
import type { CoordinatorOptions } from "../src/options.js";

/** A fingerprint for in-process agents, so tests do not depend on the machine they run on. */
export function testFingerprint(overrides: Partial<Fingerprint> = {}): Fingerprint {
  return {
    os: "linux",
    distro: "Debian",
    release: "12",
    arch: "x64",
    cpuModel: "test cpu",
    cores: 2,
    memoryBytes: 8 * 1024 ** 3,
    freeDiskBytes: 100 * 1024 ** 3,
    docker: { available: false },
    ...overrides,
  };
}

/** A whole fleet in one process: a private redis-server, a coordinator, agents and clients. */
export interface TestFleet {
  redis: RedisServer;
  coordinator: Coordinator;
  token: string;
  agents: Agent[];
  clients: FlotillaClient[];
  addAgent(options: Partial<AgentOptions> & { id: string }): Promise<Agent>;
  client(): Promise<FlotillaClient>;
  dispose(): Promise<void>;
}

const silent = pino({ level: "silent" });

/** A coordinator on `redisUrl` with the fleet's token, a random port and no logs (not started yet). */
export function testCoordinator(redisUrl: string, options: Partial<CoordinatorOptions> = {}): Coordinator {
  return createCoordinator({
    redisUrl,
    token: "test-token",
    port: 0,
    host: "127.0.0.1",
    logger: silent,
    ...options,
  });
}

/**
 * `redisUrl` may point elsewhere than the fleet's own server, given the server's port first (a proxy in
 * front of it, say).
 */
export async function startFleet(
  options: Partial<CoordinatorOptions> | ((redisPort: number) => Partial<CoordinatorOptions>) = {},
): Promise<TestFleet> {
  const redis = await startRedis();
  const chosen = typeof options === "function" ? options(redis.port) : options;
  const token = "test-token";
  const coordinator = testCoordinator(redis.url, chosen);
  await coordinator.start();
  const fleet: TestFleet = {
    redis,
    coordinator,
    token,
    agents: [],
    clients: [],
    async addAgent(agentOptions) {
      const agent = createAgent({
        coordinatorUrl: coordinator.url,
        token,
        slots: 2,
        logger: silent,
        fingerprint: testFingerprint(),
        killGraceMs: 1000,
        shutdownGraceMs: 1000,
        ...agentOptions,
      });
      await agent.start();
      fleet.agents.push(agent);
      return agent;
    },
    async client() {
      const client = await connect({ url: coordinator.url, token });
      fleet.clients.push(client);
      return client;
    },
    async dispose() {
      for (const client of fleet.clients) client.close();
      await Promise.allSettled(fleet.agents.map((agent) => agent.stop({ now: true })));
      await coordinator.stop();
      await redis.dispose();
    },
  };
  return fleet;
}

/** A suite's own fleet and a Redis client of its server, valid from `beforeAll` on. */
export interface SuiteFleet {
  readonly fleet: TestFleet;
  readonly redis: Redis;
}

/** Starts a fleet and a Redis client of it before the suite's tests, and stops both after. */
export function fleetPerSuite(options: Partial<CoordinatorOptions> = {}): SuiteFleet {
  const suite = {} as { fleet: TestFleet; redis: Redis };
  beforeAll(async () => {
    suite.fleet = await startFleet(options);
    suite.redis = new Redis(suite.fleet.redis.url);
  }, 30_000);
  afterAll(async () => {
    suite.redis?.disconnect();
    await suite.fleet?.dispose();
  });
  return suite;
}
