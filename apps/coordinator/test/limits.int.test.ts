import { waitFor } from "@flotilla/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startFleet, type TestFleet } from "./fleet.js";
import { envelope, rawSocket } from "./raw.js";

const LIMITS = {
  maxFramesPerSecond: 20,
  maxSubmitsPerSecond: 3,
  maxConnectionsPerToken: 4,
  maxWatchesPerConnection: 2,
  maxBufferedBytes: 64 * 1024,
  metricsPublic: true,
};

/** `flotilla_limit_refusals_total{limit}` as `/metrics` (public here) reports it. */
async function refusals(fleet: TestFleet, limit: string): Promise<number> {
  const text = await (await fetch(`${fleet.coordinator.url.replace("ws:", "http:")}/metrics`)).text();
  const series = `flotilla_limit_refusals_total{limit="${limit}"} `;
  const line = text.split("\n").find((row) => row.startsWith(series));
  return line === undefined ? 0 : Number(line.slice(series.length));
}

/** Submits over HTTP, which the per-token WebSocket submit limit does not cover. */
async function httpSubmit(fleet: TestFleet, argv: string[]): Promise<string> {
  const response = await fetch(`${fleet.coordinator.url.replace("ws:", "http:")}/v1/tasks`, {
    method: "POST",
    headers: { authorization: `Bearer ${fleet.token}`, "content-type": "application/json" },
    body: JSON.stringify({ kind: "exec", argv }),
  });
  return ((await response.json()) as { taskId: string }).taskId;
}

describe("connection limits", () => {
  let fleet: TestFleet;

  beforeAll(async () => {
    fleet = await startFleet(LIMITS);
    await fleet.addAgent({ id: "worker", slots: 2 });
  }, 30_000);
  afterAll(async () => {
    await fleet?.dispose();
  });

  it("answers frames over the rate with E_RATE_LIMITED, and closes a connection that keeps on", async () => {
    const raw = await rawSocket(fleet, "/v1/client");
    const ids: string[] = [];
    for (let i = 0; i < 45; i += 1) {
      const frame = envelope("nodes.list", {});
      ids.push(frame.id);
      raw.socket.send(JSON.stringify(frame));
    }
    const refused = await raw.next((reply) => reply.code === "E_RATE_LIMITED");
    expect(ids).toContain(refused.replyTo);
    expect(await raw.closed).toBe(1008);
    expect(raw.inbox.filter((reply) => reply.type === "reply").length).toBeGreaterThanOrEqual(20);
    expect(await refusals(fleet, "frames")).toBeGreaterThanOrEqual(20);
  });

  it("refuses submits over the token's rate", async () => {
    const raw = await rawSocket(fleet, "/v1/client");
    const spec = { kind: "exec", argv: ["true"] };
    for (let i = 0; i < 6; i += 1) raw.socket.send(JSON.stringify(envelope("task.submit", { spec })));
    await waitFor(() => raw.inbox.length >= 6, { timeoutMs: 5_000 });
    const limited = raw.inbox.filter((reply) => reply.code === "E_RATE_LIMITED");
    expect(limited.length).toBeGreaterThanOrEqual(2);
    expect(raw.inbox.filter((reply) => reply.type === "task.accepted").length).toBe(6 - limited.length);
    expect(await refusals(fleet, "submits")).toBe(limited.length);
    raw.socket.close();
    await raw.closed;
  });

  it("refuses a watch beyond the connection's limit", async () => {
    const ids = [
      await httpSubmit(fleet, ["true"]),
      await httpSubmit(fleet, ["true"]),
      await httpSubmit(fleet, ["true"]),
    ];
    const raw = await rawSocket(fleet, "/v1/client");
    for (const taskId of ids)
      raw.socket.send(JSON.stringify(envelope("task.watch", { taskId }, `w-${taskId}`)));
    const refused = await raw.next((reply) => reply.code === "E_RATE_LIMITED");
    expect(refused.replyTo).toBe(`w-${ids[2]}`);
    expect(await refusals(fleet, "watches")).toBe(1);
    raw.socket.close();
    await raw.closed;
  });

  it("refuses a connection beyond the token's limit with 429, and takes one again after a close", async () => {
    // The agent holds one connection of the fleet token already.
    const open = [
      await rawSocket(fleet, "/v1/client"),
      await rawSocket(fleet, "/v1/client"),
      await rawSocket(fleet, "/v1/client"),
    ];
    await expect(rawSocket(fleet, "/v1/client")).rejects.toThrow(/429/);
    expect(await refusals(fleet, "connections")).toBe(1);
    open[0]?.socket.close();
    await open[0]?.closed;
    const again = await waitFor(async () => await rawSocket(fleet, "/v1/client").catch(() => undefined), {
      timeoutMs: 5_000,
    });
    for (const raw of [again, ...open.slice(1)]) raw?.socket.close();
    await Promise.all([again, ...open.slice(1)].map((raw) => raw?.closed));
  });
});

describe("a slow consumer", () => {
  let fleet: TestFleet;

  beforeAll(async () => {
    // The frame limit of the block above would hold back the agent's output; only the buffer bound here.
    fleet = await startFleet({ maxBufferedBytes: 64 * 1024, metricsPublic: true });
    await fleet.addAgent({ id: "worker", slots: 2 });
  }, 30_000);
  afterAll(async () => {
    await fleet?.dispose();
  });

  it("closes a connection that stops reading once its unsent bytes pass the bound", async () => {
    // About 4 MB of stored output, replayed to a watcher at once.
    const taskId = await httpSubmit(fleet, ["sh", "-c", "head -c 4000000 /dev/zero | tr '\\0' x"]);
    const base = fleet.coordinator.url.replace("ws:", "http:");
    await waitFor(
      async () => {
        const task = await fetch(`${base}/v1/tasks/${taskId}`, {
          headers: { authorization: `Bearer ${fleet.token}` },
        });
        return ((await task.json()) as { state?: string }).state === "succeeded";
      },
      { timeoutMs: 15_000 },
    );
    const slow = new WebSocket(`${fleet.coordinator.url}/v1/client`, {
      headers: { authorization: `Bearer ${fleet.token}` },
    });
    await new Promise<void>((resolve, reject) => {
      slow.once("open", () => resolve());
      slow.once("error", reject);
    });
    slow.pause();
    slow.send(JSON.stringify(envelope("task.watch", { taskId })));
    await waitFor(async () => (await refusals(fleet, "slow_consumer")) >= 1, { timeoutMs: 10_000 });
    slow.terminate();
  }, 30_000);
});
