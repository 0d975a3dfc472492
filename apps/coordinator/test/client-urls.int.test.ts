import { connect, type FlotillaClient, type TaskEvent } from "@flotilla/client";
import { freePort, startStandbyDouble } from "@flotilla/testing";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createCoordinator } from "../src/index.js";
import { startFleet, type TestFleet } from "./fleet.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function fleet(): Promise<TestFleet> {
  const started = await startFleet();
  cleanups.push(() => started.dispose());
  return started;
}

async function client(url: string, token: string): Promise<FlotillaClient> {
  const opened = await connect({ url, token, reconnect: { baseMs: 20, maxMs: 100 } });
  cleanups.push(() => opened.close());
  return opened;
}

const handlers = { echo: async (payload: unknown) => payload };

describe("a client given several coordinator URLs, against real coordinators", () => {
  it("passes over a closed port and a standby to the active coordinator", async () => {
    const { coordinator, token, addAgent } = await fleet();
    await addAgent({ id: "echoer", handlers });
    const standby = await startStandbyDouble();
    cleanups.push(() => standby.close());
    const closed = `ws://127.0.0.1:${await freePort()}`;
    const session = await client(`${closed},${standby.url},${coordinator.url}`, token);
    expect(standby.upgrades).toBe(1);
    const handle = await session.submit({ kind: "call", handler: "echo", payload: { n: 1 } });
    expect(await handle.result()).toMatchObject({ state: "succeeded", result: { n: 1 } });
  });

  it("finishes a waiting submit and a watch on the other coordinator after the first one stops", async () => {
    const { coordinator: first, redis, token, addAgent } = await fleet();
    const secondPort = await freePort();
    const session = await client(`${first.url},ws://127.0.0.1:${secondPort}`, token);
    // No agent yet: both tasks wait in Redis's queue while the coordinators change.
    const waiting = await session.submit({ kind: "call", handler: "echo", payload: "waited" });
    const watched = await session.submit(
      { kind: "call", handler: "echo", payload: "watched" },
      { wait: false },
    );
    const states: TaskEvent["state"][] = [];
    const watching = (async () => {
      for await (const event of watched.events()) states.push(event.state);
    })();
    const result = waiting.result();
    await first.stop();
    // Started only now: until standbys exist, two coordinators on one Redis would both be active.
    const second = createCoordinator({
      redisUrl: redis.url,
      token,
      port: secondPort,
      host: "127.0.0.1",
      logger: pino({ level: "silent" }),
    });
    await second.start();
    cleanups.push(() => second.stop());
    await addAgent({ id: "echoer", coordinatorUrl: second.url, handlers });
    expect(await result).toMatchObject({ state: "succeeded", result: "waited" });
    await watching;
    expect(states.at(-1)).toBe("succeeded");
    expect(await session.task(watched.id)).toMatchObject({ state: "succeeded", result: "watched" });
  });
});
