import { connect, type FlotillaClient } from "@flotilla/client";
import { type Agent, createAgent } from "@flotilla/node-agent";
import { type SentinelSet, startSentinelSet, waitFor } from "@flotilla/testing";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Coordinator } from "../src/index.js";
import { testCoordinator, testFingerprint } from "./fleet.js";

describe("Redis Sentinel: the fleet carries on after its primary fails over", () => {
  let set: SentinelSet;
  let coordinator: Coordinator;
  let agent: Agent;
  let client: FlotillaClient;

  beforeAll(async () => {
    set = await startSentinelSet();
    coordinator = testCoordinator("redis://ignored-with-sentinels:1", {
      redisConnection: { sentinels: set.sentinels, masterName: set.masterName },
      // Every acknowledged change is on the replica too: the failover cannot lose it.
      redisWaitReplicas: 1,
    });
    await coordinator.start();
    agent = createAgent({
      coordinatorUrl: coordinator.url,
      token: "test-token",
      id: "sentinel-node",
      slots: 4,
      logger: pino({ level: "silent" }),
      fingerprint: testFingerprint(),
    });
    await agent.start();
    client = await connect({ url: coordinator.url, token: "test-token" });
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await agent?.stop({ now: true });
    await coordinator?.stop();
    await set?.dispose();
  });

  it("keeps every task acknowledged before the primary died and runs new work on the promoted replica", async () => {
    expect(await set.primaryPort()).toBe(set.primary.port);
    const before = [];
    for (let i = 0; i < 20; i += 1) {
      before.push(await client.submit({ kind: "exec", argv: ["sh", "-c", `echo before-${i}`] }));
    }
    for (const handle of before) expect((await handle.result()).state).toBe("succeeded");
    // Running when the primary dies: its lease and run are on the replica through WAIT, and it ends there.
    const running = await client.submit({ kind: "exec", argv: ["sleep", "2"] }, { wait: false });
    await waitFor(async () => (await client.task(running.id)).state === "running", {
      what: "the long task to start",
    });

    await set.primary.kill();
    const replicaPorts = set.replicas.map((replica) => replica.port);
    await waitFor(async () => replicaPorts.includes(await set.primaryPort()), {
      timeoutMs: 60_000,
      intervalMs: 200,
      what: "the sentinels to promote the replica",
    });

    // A request in flight while ioredis switches to the new primary may fail (retryable); a submit sent
    // again with its idempotency key is still one task.
    const after = await waitFor(
      () =>
        client
          .submit(
            { kind: "exec", argv: ["sh", "-c", "echo after-failover"], idempotencyKey: "after-failover" },
            { wait: false },
          )
          .catch(() => undefined),
      { timeoutMs: 30_000, what: "a submit to go through after the failover" },
    );
    const ended = async (id: string) => (await client.task(id)).state === "succeeded";
    await waitFor(() => ended(after.id), {
      timeoutMs: 30_000,
      what: "the task submitted after the failover",
    });
    for (const handle of before) {
      await waitFor(() => ended(handle.id), { timeoutMs: 30_000, what: `acknowledged task ${handle.id}` });
    }
    await waitFor(() => ended(running.id), {
      timeoutMs: 30_000,
      what: "the task running across the failover to end",
    });
    // The coordinator writes to the promoted replica now.
    const promoted = new Redis(await set.primaryPort(), "127.0.0.1");
    try {
      expect(await promoted.info("replication")).toMatch(/role:master/);
      expect(await promoted.exists(`task:{${after.id}}`)).toBe(1);
    } finally {
      promoted.disconnect();
    }
  }, 120_000);
});
