import { mkdir, rm } from "node:fs/promises";
import { connect } from "@flotilla/client";
import { createAgent } from "@flotilla/node-agent";
import { waitFor } from "@flotilla/testing";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { type Coordinator, createCoordinator } from "../src/index.js";
import { startFleet, type TestFleet, testFingerprint } from "./fleet.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const silent = pino({ level: "silent" });

/** A second coordinator on the fleet's Redis, noting its role changes in `roles`. */
function anotherCoordinator(fleet: TestFleet, roles: string[]): Coordinator {
  return createCoordinator({
    redisUrl: fleet.redis.url,
    token: fleet.token,
    port: 0,
    host: "127.0.0.1",
    logger: silent,
    onRoleChange: (role) => roles.push(role),
  });
}

async function healthOf(
  coordinator: Coordinator,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`http://127.0.0.1:${coordinator.port}/healthz`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe("two coordinators on one Redis", () => {
  it("keeps the second as a standby that refuses agents and clients, and hands over when the first stops", async () => {
    const fleet = await startFleet();
    cleanups.push(() => fleet.dispose());
    const roles: string[] = [];
    const standby = anotherCoordinator(fleet, roles);
    await standby.start();
    cleanups.push(() => standby.stop());
    expect(fleet.coordinator.role).toBe("active");
    expect(standby.role).toBe("standby");
    expect(await healthOf(standby)).toMatchObject({ status: 200, body: { ok: true, role: "standby" } });
    expect(await healthOf(fleet.coordinator)).toMatchObject({ body: { role: "active" } });
    // A standby's 503 sends a client given only its URL away with that reason.
    await expect(connect({ url: standby.url, token: fleet.token, reconnect: false })).rejects.toThrow(/503/);
    const tasksAtStandby = await fetch(`http://127.0.0.1:${standby.port}/v1/tasks`, {
      method: "POST",
      headers: { authorization: `Bearer ${fleet.token}`, "content-type": "application/json" },
      body: JSON.stringify({ kind: "exec", argv: ["true"] }),
    });
    expect(tasksAtStandby.status).toBe(503);
    expect(await tasksAtStandby.json()).toMatchObject({ code: "E_NOT_LEADER" });

    const urls = `${standby.url},${fleet.coordinator.url}`;
    const agent = createAgent({
      coordinatorUrl: urls,
      token: fleet.token,
      id: "worker",
      slots: 2,
      logger: silent,
      fingerprint: testFingerprint(),
      handlers: { echo: async (payload: unknown) => payload },
    });
    await agent.start();
    cleanups.push(() => agent.stop({ now: true }));
    const client = await connect({ url: urls, token: fleet.token, reconnect: { baseMs: 20, maxMs: 100 } });
    cleanups.push(() => client.close());
    const before = await client.submit({ kind: "call", handler: "echo", payload: "before" });
    expect(await before.result()).toMatchObject({ state: "succeeded", result: "before" });

    await fleet.coordinator.stop();
    await waitFor(() => standby.role === "active", { what: "the standby to take over" });
    expect(roles).toEqual(["active"]);
    expect(await healthOf(standby)).toMatchObject({ status: 200, body: { ok: true, role: "active" } });
    // Agent and client follow it: a task submitted now runs there.
    const after = await client.submit({ kind: "call", handler: "echo", payload: "after" });
    expect(await after.result()).toMatchObject({ state: "succeeded", result: "after" });
  });

  it("stops an active coordinator whose lease another has taken, and says it was deposed", async () => {
    const fleet = await startFleet();
    cleanups.push(() => fleet.dispose());
    const roles: string[] = [];
    const first = anotherCoordinator(fleet, roles);
    // The fleet's own coordinator gives the lease up; `first` takes it.
    await fleet.coordinator.stop();
    await first.start();
    cleanups.push(() => first.stop());
    expect(first.role).toBe("active");
    // Another takes the lease by force, as a newer term would: the first notices at its next renewal.
    const redis = new Redis(fleet.redis.url);
    await redis.set("coordinator:leader", "intruder:999999", "PX", 10_000);
    await redis.set("coordinator:fence", "999999");
    redis.disconnect();
    await waitFor(() => roles.includes("deposed"), { what: "the first coordinator to be deposed" });
    expect(roles).toEqual(["active", "deposed"]);
  });
});

describe("Redis emptied under a running coordinator", () => {
  it("is reported at once, and a submitter waiting for a lost task gets an error instead of waiting", async () => {
    const fleet = await startFleet();
    cleanups.push(() => fleet.dispose());
    const client = await fleet.client();
    // No agent can run it: it waits in Redis, and its submitter waits for the outcome.
    const lost = await client.submit({ kind: "call", handler: "nobody-has-this", payload: 1 });
    const outcome = lost.result().then(
      () => "resolved",
      (error: Error) => error.message,
    );
    await fleet.redis.kill();
    // What a Redis without an append-only file, or with a lost disk, comes back with: nothing.
    await rm(fleet.redis.dir, { recursive: true, force: true });
    await mkdir(fleet.redis.dir, { recursive: true });
    await fleet.redis.restart();
    const restartedAt = Date.now();
    const health = await waitFor(
      async () => {
        const seen = await healthOf(fleet.coordinator);
        return seen.body.ok === false && seen.body.redis === "ready" ? seen : undefined;
      },
      { what: "/healthz to report the emptied Redis" },
    );
    expect(Date.now() - restartedAt).toBeLessThan(5000);
    expect(health.status).toBe(503);
    expect(String(health.body.problem)).toMatch(/emptied/);
    expect(await outcome).toMatch(/no task .*Redis was emptied/);
    expect(await fleet.coordinator.inspect.metrics()).toMatch(/flotilla_redis_emptied_total 1/);
    // The fleet goes on with the Redis it has now.
    await fleet.addAgent({ id: "after", handlers: { echo: async (payload: unknown) => payload } });
    const next = await client.submit({ kind: "call", handler: "echo", payload: "again" });
    expect(await next.result()).toMatchObject({ state: "succeeded", result: "again" });
  });
});
