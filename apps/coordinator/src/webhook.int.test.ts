import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { waitFor } from "@flotilla/testing";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { CoordinatorMetrics } from "./metrics.js";
import { AlertWebhook } from "./webhook.js";

const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

/** A receiver answering each POST with the next status of `statuses` (the last one repeats). */
async function receiver(statuses: number[]): Promise<{ url: string; bodies: unknown[] }> {
  const bodies: unknown[] = [];
  const server = createServer((request, response) => {
    let body = "";
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => {
      body += chunk;
    });
    request.on("end", () => {
      bodies.push(JSON.parse(body));
      response.writeHead(statuses[Math.min(bodies.length, statuses.length) - 1] ?? 200).end();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, bodies };
}

async function sends(metrics: CoordinatorMetrics, outcome: string): Promise<number> {
  const values = (await metrics.webhookSends.get()).values;
  return values.find((value) => value.labels.outcome === outcome)?.value ?? 0;
}

function webhook(url: string, metrics: CoordinatorMetrics): AlertWebhook {
  return new AlertWebhook(url, {
    random: () => 0.5,
    log: pino({ level: "silent" }),
    metrics,
    attempts: 4,
    backoff: { baseMs: 10, maxMs: 40 },
  });
}

describe("AlertWebhook", () => {
  it("retries a 5xx and a 429, and counts the delivery", async () => {
    const metrics = new CoordinatorMetrics();
    const hook = await receiver([503, 429, 200]);
    webhook(hook.url, metrics).send({ type: "alert.fired", id: "a1" });
    await waitFor(async () => (await sends(metrics, "delivered")) === 1, { what: "the delivery" });
    expect(hook.bodies).toEqual([
      { type: "alert.fired", id: "a1" },
      { type: "alert.fired", id: "a1" },
      { type: "alert.fired", id: "a1" },
    ]);
  });

  it("takes a 4xx as final", async () => {
    const metrics = new CoordinatorMetrics();
    const hook = await receiver([404]);
    webhook(hook.url, metrics).send({ type: "alert.resolved", id: "a2" });
    await waitFor(async () => (await sends(metrics, "refused")) === 1, { what: "the refusal" });
    expect(hook.bodies).toHaveLength(1);
  });

  it("gives up after its tries, and stops retrying once closed", async () => {
    const metrics = new CoordinatorMetrics();
    const hook = await receiver([500]);
    webhook(hook.url, metrics).send({ id: "a3" });
    await waitFor(async () => (await sends(metrics, "failed")) === 1, { what: "giving up" });
    expect(hook.bodies).toHaveLength(4);

    const slow = new AlertWebhook(hook.url, {
      random: () => 0.99,
      log: pino({ level: "silent" }),
      metrics,
      backoff: { baseMs: 60_000, maxMs: 60_000 },
    });
    slow.send({ id: "a4" });
    await waitFor(() => hook.bodies.length === 5, { what: "the first try" });
    slow.close();
    await waitFor(async () => (await sends(metrics, "failed")) === 2, {
      what: "the closed webhook to give up",
    });
    expect(hook.bodies).toHaveLength(5);
  });
});
