import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { isFlotillaError } from "@flotilla/protocol";
import { freePort, type StandbyDouble, startStandbyDouble, waitFor } from "@flotilla/testing";
import { afterEach, describe, expect, it } from "vitest";
import { connect } from "./client.js";
import { clientEndpoints } from "./endpoints.js";
import { FakeCoordinator } from "./testing.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function standby(): Promise<StandbyDouble> {
  const double = await startStandbyDouble();
  cleanups.push(() => double.close());
  return double;
}

/** A URL where nothing listens: a coordinator that is down. */
async function deadUrl(): Promise<string> {
  return `ws://127.0.0.1:${await freePort()}`;
}

async function fake(port?: number): Promise<FakeCoordinator> {
  const coordinator = await FakeCoordinator.start(port === undefined ? {} : { port });
  cleanups.push(() => coordinator.close());
  return coordinator;
}

async function rejection(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (isFlotillaError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error("expected a rejection");
}

describe("connect with several coordinator URLs", () => {
  it("reads a comma-separated url and a urls list, each endpoint once", () => {
    expect(clientEndpoints({ url: "ws://a:1, ws://b:2", urls: ["ws://c:3/v1/client", "ws://a:1"] })).toEqual([
      "ws://a:1/v1/client",
      "ws://b:2/v1/client",
      "ws://c:3/v1/client",
    ]);
    expect(() => clientEndpoints({})).toThrow(/no coordinator URL given/);
    expect(() => clientEndpoints({ url: "ws://a:1,,ws://b:2" })).toThrow(/empty entry/);
  });

  it("passes over a closed port and a standby's 503 to the coordinator after them", async () => {
    const down = await deadUrl();
    const waiting = await standby();
    const active = await fake();
    const client = await connect({ url: `${down},${waiting.url},${active.url}`, reconnect: false });
    cleanups.push(() => client.close());
    expect(waiting.upgrades).toBe(1);
    const handle = await client.submit({ kind: "exec", argv: ["true"] });
    expect(active.task(handle.id)).toBeDefined();
  });

  it("takes an array of URLs too", async () => {
    const active = await fake();
    const client = await connect({ urls: [await deadUrl(), active.url] });
    cleanups.push(() => client.close());
    expect(client.connected).toBe(true);
  });

  it("names every URL and why it failed when none answers", async () => {
    const down = await deadUrl();
    const waiting = await standby();
    const failure = await rejection(connect({ url: `${down},${waiting.url}`, reconnect: false }));
    expect(failure.code).toBe("E_COORDINATOR_UNAVAILABLE");
    expect(failure.message).toContain(`${down}/v1/client (connection refused)`);
    expect(failure.message).toContain(`${waiting.url}/v1/client (HTTP 503: a standby, or not ready)`);
  });

  it("gives up on a URL that does not answer within dialTimeoutMs and tries the next", async () => {
    // A listener that never answers the upgrade: a coordinator stuck or behind a black hole.
    const silent = createServer();
    const held = new Set<Duplex>();
    silent.on("upgrade", (_request, socket) => held.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const socket of held) socket.destroy();
          silent.close(() => resolve());
        }),
    );
    const stuck = `ws://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const active = await fake();
    const client = await connect({ url: `${stuck},${active.url}`, dialTimeoutMs: 200 });
    cleanups.push(() => client.close());
    expect(client.connected).toBe(true);
    const failure = await rejection(connect({ url: stuck, dialTimeoutMs: 100, connectTimeoutMs: 1000 }));
    expect(failure.message).toMatch(/no answer within 100 ms/);
  });

  it("reconnects starting with the URL that last worked", async () => {
    const waiting = await standby();
    const active = await fake();
    const client = await connect({
      url: `${waiting.url},${active.url}`,
      reconnect: { baseMs: 10, maxMs: 40 },
    });
    cleanups.push(() => client.close());
    expect(waiting.upgrades).toBe(1);
    // A watch is renewed on every new socket: its second task.watch marks the reconnect.
    const handle = await client.submit({ kind: "exec", argv: ["long"] }, { wait: false });
    const reading = (async () => {
      for await (const _chunk of handle.output());
    })();
    await waitFor(() => active.requests("task.watch").length === 1, { what: "the watch" });
    active.dropClients();
    await waitFor(() => active.requests("task.watch").length === 2, {
      what: "the watch after the reconnect",
    });
    expect(waiting.upgrades).toBe(1);
    active.setState(handle.id, "succeeded", { exitCode: 0 });
    await reading;
  });

  it("moves to the other URL when its coordinator goes away", async () => {
    const first = await fake();
    const secondPort = await freePort();
    const client = await connect({
      url: `${first.url},ws://127.0.0.1:${secondPort}`,
      reconnect: { baseMs: 10, maxMs: 40 },
    });
    cleanups.push(() => client.close());
    await first.stop();
    await waitFor(() => !client.connected, { what: "the lost connection" });
    const second = await fake(secondPort);
    await waitFor(() => second.connections === 1 && client.connected, { what: "the reconnect" });
    const handle = await client.submit({ kind: "exec", argv: ["true"] });
    expect(second.task(handle.id)).toBeDefined();
  });
});
