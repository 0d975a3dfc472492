import { connect } from "@flotilla/client";
import { type Agent, createAgent } from "@flotilla/node-agent";
import { type RedisServer, startRedis, waitFor } from "@flotilla/testing";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Coordinator } from "../src/index.js";
import type { CoordinatorOptions } from "../src/options.js";
import { testCoordinator, testFingerprint } from "./fleet.js";
import { redisCli } from "./raw.js";

const silent = pino({ level: "silent" });
const token = "test-token";

/**
 * Work left on a node whose agent died while no coordinator was running: one coordinator leases it and is
 * stopped, the agent goes, and the next coordinator on the same Redis must find the work.
 */
describe("recovery of a dead node's work", () => {
  let redis: RedisServer;
  const coordinators: Coordinator[] = [];
  const agents: Agent[] = [];

  beforeEach(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    await Promise.allSettled(agents.splice(0).map((agent) => agent.stop({ now: true })));
    for (const coordinator of coordinators.splice(0)) await coordinator.stop();
    await redis.dispose();
  });

  async function startCoordinator(options: Partial<CoordinatorOptions>): Promise<Coordinator> {
    const coordinator = testCoordinator(redis.url, {
      heartbeatIntervalMs: 100,
      sweepIntervalMs: 50,
      ...options,
    });
    await coordinator.start();
    coordinators.push(coordinator);
    return coordinator;
  }

  async function startAgent(coordinator: Coordinator, id: string): Promise<Agent> {
    const agent = createAgent({
      coordinatorUrl: coordinator.url,
      token,
      id,
      slots: 1,
      prefetch: 0,
      logger: silent,
      fingerprint: testFingerprint(),
      killGraceMs: 200,
      shutdownGraceMs: 200,
    });
    await agent.start();
    agents.push(agent);
    return agent;
  }

  /** Leases one long task to `doomed` and queues two more behind it; then the coordinator stops and the agent dies. */
  async function strandWork(): Promise<string[]> {
    const first = await startCoordinator({ deadAfterMs: 60_000 });
    const doomed = await startAgent(first, "doomed");
    const client = await connect({ url: first.url, token });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await client.submit({ kind: "exec", shell: "sleep 30" })).id);
    await waitFor(async () => (await client.task(ids[0] as string)).state === "running", {
      what: "the first task running on the doomed node",
    });
    client.close();
    await first.stop();
    coordinators.splice(coordinators.indexOf(first), 1);
    await doomed.stop({ now: true });
    agents.splice(agents.indexOf(doomed), 1);
    expect(redisCli(redis.port, "SCARD", "running:doomed")).toBe("1");
    expect(Number(redisCli(redis.port, "ZCARD", "queue:doomed"))).toBeGreaterThanOrEqual(1);
    return ids;
  }

  it("declares dead at start a known node left out of agents:active with work, and requeues it", async () => {
    const ids = await strandWork();
    expect(redisCli(redis.port, "SISMEMBER", "nodes:known", "doomed")).toBe("1");
    // What a crash between leaving agents:active and requeueing left before the order changed.
    redisCli(redis.port, "SREM", "agents:active", "doomed");
    // The heartbeat timeout is far away: only the recovery of known nodes can requeue in time.
    const second = await startCoordinator({ deadAfterMs: 60_000 });
    await startAgent(second, "survivor");
    const client = await connect({ url: second.url, token });
    try {
      await waitFor(
        async () => {
          const states = await Promise.all(ids.map(async (id) => (await client.task(id)).state));
          return states.every((state) => state === "running" || state === "leased" || state === "queued")
            ? (await client.task(ids[0] as string)).node === "survivor"
            : false;
        },
        { what: "the doomed node's work requeued to the survivor", timeoutMs: 10_000 },
      );
      expect(redisCli(redis.port, "SCARD", "running:doomed")).toBe("0");
      expect(redisCli(redis.port, "ZCARD", "queue:doomed")).toBe("0");
    } finally {
      client.close();
    }
  });

  it("requeues the work of an active node whose agent never comes back, after the heartbeat timeout", async () => {
    const ids = await strandWork();
    const second = await startCoordinator({ deadAfterMs: 1000 });
    await startAgent(second, "survivor");
    const client = await connect({ url: second.url, token });
    try {
      await waitFor(async () => (await client.task(ids[0] as string)).node === "survivor", {
        what: "the doomed node's running task requeued to the survivor",
        timeoutMs: 10_000,
      });
      // The node leaves agents:active last, once all its work has moved: wait for the declaration's end.
      await waitFor(() => redisCli(redis.port, "SISMEMBER", "agents:active", "doomed") === "0", {
        what: "the doomed node to leave agents:active",
        timeoutMs: 10_000,
      });
      expect(redisCli(redis.port, "ZCARD", "queue:doomed")).toBe("0");
    } finally {
      client.close();
    }
  });
});
