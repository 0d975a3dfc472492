import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type Alert, alertChange, connect, type FleetEvent } from "@flotilla/client";
import { waitFor } from "@flotilla/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFleet, type TestFleet, testCoordinator } from "./fleet.js";

/** A webhook receiver that answers its first POST with a 500, then 200s, and keeps what it was sent. */
async function startWebhook(): Promise<{
  url: string;
  posts: Record<string, unknown>[];
  refused: number;
  server: Server;
}> {
  const state = { posts: [] as Record<string, unknown>[], refused: 0 };
  const server = createServer((request, response) => {
    let body = "";
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => {
      body += chunk;
    });
    request.on("end", () => {
      if (state.refused === 0) {
        state.refused += 1;
        response.writeHead(500).end();
        return;
      }
      state.posts.push(JSON.parse(body) as Record<string, unknown>);
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    get posts() {
      return state.posts;
    },
    get refused() {
      return state.refused;
    },
    server,
  };
}

/** Collects the alert events pushed to an `events()` subscriber. */
function collectAlertEvents(events: AsyncIterable<FleetEvent>): { type: string; alert: Alert }[] {
  const seen: { type: string; alert: Alert }[] = [];
  void (async () => {
    for await (const event of events) {
      const change = alertChange(event);
      if (change) seen.push(change);
    }
  })().catch(() => undefined);
  return seen;
}

describe("alerts: the fleet below its minimum size fires, and its node's return resolves", () => {
  let fleet: TestFleet;
  let webhook: Awaited<ReturnType<typeof startWebhook>>;

  beforeAll(async () => {
    webhook = await startWebhook();
    fleet = await startFleet({
      alerts: { minNodes: 2, fireAfterMs: 0, resolveAfterMs: 0 },
      alertWebhookUrl: webhook.url,
      alertIntervalMs: 100,
      historyIntervalMs: 200,
      heartbeatIntervalMs: 200,
      deadAfterMs: 1500,
    });
    await fleet.addAgent({ id: "keel", heartbeatIntervalMs: 200 });
    await fleet.addAgent({ id: "mast", heartbeatIntervalMs: 200 });
  }, 30_000);
  afterAll(async () => {
    await fleet?.dispose();
    webhook?.server.close();
  });

  it("fires cluster_size when an agent dies, resolves it when the agent is back, and tells the webhook", async () => {
    const client = await fleet.client();
    const seen = collectAlertEvents(client.events());
    await waitFor(
      async () => (await client.nodes()).filter((node) => node.health === "healthy").length === 2,
      {
        what: "two healthy nodes",
      },
    );
    // Two healthy nodes meet the minimum of 2: nothing fires about the fleet's size (an alert from
    // before both had joined may have come and gone).
    await waitFor(async () => (await client.history()).samples.some((s) => s.fleet.healthyNodes === 2), {
      what: "a history sample with both nodes",
    });
    await waitFor(
      async () => (await client.alerts({ firingOnly: true })).every((alert) => alert.rule !== "cluster_size"),
      { what: "no cluster_size alert firing" },
    );

    const mast = fleet.agents[1];
    await mast?.stop({ now: true });
    const fired = await waitFor(
      async () => (await client.alerts({ firingOnly: true })).find((alert) => alert.rule === "cluster_size"),
      { what: "cluster_size to fire", timeoutMs: 15_000 },
    );
    expect(fired).toMatchObject({ subject: "fleet", value: 1, threshold: 2 });
    expect(fired.resolvedAt).toBeUndefined();
    const event = await waitFor(
      () => seen.find((change) => change.type === "alert.fired" && change.alert.id === fired.id),
      { what: "the alert.fired event" },
    );
    // The event carries the alert as alerts() lists it.
    expect(event.alert).toEqual(fired);

    await fleet.addAgent({ id: "mast", heartbeatIntervalMs: 200 });
    await waitFor(
      async () =>
        (await client.alerts()).find((alert) => alert.id === fired.id && alert.resolvedAt !== undefined),
      { what: "cluster_size to resolve", timeoutMs: 15_000 },
    );
    expect((await client.alerts({ firingOnly: true })).filter((a) => a.rule === "cluster_size")).toEqual([]);
    await waitFor(
      () => seen.some((event) => event.type === "alert.resolved" && event.alert.id === fired.id),
      {
        what: "the alert.resolved event",
      },
    );

    // The webhook refused the first POST with a 500; it was sent again, and both changes arrived.
    await waitFor(
      () =>
        webhook.posts.some((post) => post.type === "alert.fired" && post.id === fired.id) &&
        webhook.posts.some((post) => post.type === "alert.resolved" && post.id === fired.id),
      { what: "the webhook to receive both changes", timeoutMs: 15_000 },
    );
    expect(webhook.refused).toBe(1);
  }, 60_000);

  it("counts alerts in /metrics", async () => {
    const text = await (
      await fetch(`${fleet.coordinator.url.replace("ws:", "http:")}/metrics`, {
        headers: { authorization: `Bearer ${fleet.token}` },
      })
    ).text();
    expect(text).toMatch(/flotilla_alerts_total\{rule="cluster_size",event="fired"\} [1-9]/);
    expect(text).toMatch(/flotilla_alerts_total\{rule="cluster_size",event="resolved"\} [1-9]/);
    expect(text).toMatch(/flotilla_alert_webhook_sends_total\{outcome="delivered"\} [1-9]/);
  });

  it("samples throughput and the queue by priority, and answers for the last minutes asked", async () => {
    const client = await fleet.client();
    const done = await client.submit({ kind: "exec", argv: ["true"] });
    expect((await done.result()).state).toBe("succeeded");
    await waitFor(async () => (await client.history()).samples.some((s) => s.fleet.throughputPerMin >= 1), {
      what: "a sample counting the finished run",
    });
    // One task running, and a high-priority one that no node can take: it waits, not yet leased.
    const sleeper = await client.submit({ kind: "exec", argv: ["sleep", "30"] }, { wait: false });
    const waiting = await client.submit(
      { kind: "exec", argv: ["true"], priority: "high", needs: { gpu: true } },
      { wait: false },
    );
    const seen = await waitFor(
      async () =>
        (await client.history()).samples.find(
          (s) => s.fleet.queued.high >= 1 && s.fleet.running >= 1 && s.fleet.oldestWaitMs > 0,
        ),
      { what: "a sample with the waiting task and the running one" },
    );
    expect(seen.fleet.queued.critical).toBe(0);
    for (const handle of [waiting, sleeper]) await client.cancel(handle.id);
    const recent = await client.history({ minutes: 1 });
    const now = Date.now();
    expect(recent.samples.length).toBeGreaterThan(0);
    for (const sample of recent.samples) expect(sample.at).toBeGreaterThanOrEqual(now - 60_000 - 1000);
  }, 60_000);

  it("keeps the history and the alerts in Redis: a new coordinator on the same Redis shows them", async () => {
    const client = await fleet.client();
    const before = await client.history();
    expect(before.intervalMs).toBe(200);
    const sample = before.samples.at(-1);
    expect(sample?.nodes.keel).toMatchObject({ slotsTotal: 2, healthy: true });
    expect(Object.keys(sample?.fleet.queued ?? {}).sort()).toEqual(["critical", "high", "low", "normal"]);
    const resolvedBefore = (await client.alerts()).filter((alert) => alert.resolvedAt !== undefined);

    await fleet.coordinator.stop();
    const next = testCoordinator(fleet.redis.url, { historyIntervalMs: 200, alertIntervalMs: 100 });
    await next.start();
    try {
      const again = await connect({ url: next.url, token: fleet.token });
      fleet.clients.push(again);
      const after = await again.history();
      // Every sample taken before the restart is still there.
      const times = new Set(after.samples.map((s) => s.at));
      for (const old of before.samples) expect(times.has(old.at)).toBe(true);
      expect((await again.alerts()).filter((alert) => alert.resolvedAt !== undefined)).toEqual(
        expect.arrayContaining(resolvedBefore),
      );
    } finally {
      await next.stop();
    }
  }, 30_000);
});

describe("alerts across a takeover", () => {
  let fleet: TestFleet;
  const alerts = { minNodes: 3, fireAfterMs: 0, resolveAfterMs: 0 };

  beforeAll(async () => {
    fleet = await startFleet({ alerts, alertIntervalMs: 100 });
    await fleet.addAgent({ id: "lone" });
  }, 30_000);
  afterAll(async () => {
    await fleet?.dispose();
  });

  it("leaves a firing alert firing under the next coordinator, with the same id, not fired again", async () => {
    const client = await fleet.client();
    const fired = await waitFor(
      async () => (await client.alerts({ firingOnly: true })).find((alert) => alert.rule === "cluster_size"),
      { what: "cluster_size to fire" },
    );
    await fleet.coordinator.stop();
    const next = testCoordinator(fleet.redis.url, { alerts, alertIntervalMs: 100 });
    await next.start();
    try {
      const metrics = async (): Promise<string> =>
        await (
          await fetch(`${next.url.replace("ws:", "http:")}/metrics`, {
            headers: { authorization: `Bearer ${fleet.token}` },
          })
        ).text();
      // Evaluated by the new coordinator: its gauge counts the alert it read back as firing.
      await waitFor(async () => /flotilla_alerts_firing\{rule="cluster_size"\} 1/.test(await metrics()), {
        what: "the next coordinator to evaluate",
      });
      const again = await connect({ url: next.url, token: fleet.token });
      fleet.clients.push(again);
      const firing = (await again.alerts({ firingOnly: true })).filter(
        (alert) => alert.rule === "cluster_size",
      );
      expect(firing.map((alert) => alert.id)).toEqual([fired.id]);
      expect(await metrics()).not.toMatch(/flotilla_alerts_total\{rule="cluster_size",event="fired"\} [1-9]/);
    } finally {
      await next.stop();
    }
  }, 30_000);
});
