import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Alert, connect } from "@flotilla/client";
import { type LocalFleet, startLocalFleet } from "@flotilla/launcher";
import { agentBin, coordinatorBin, waitFor } from "@flotilla/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flotilla } from "./cli-process.js";

/** The alerts `flotilla alerts --json [--all]` lists. */
async function listed(fleet: LocalFleet, all = false): Promise<Alert[]> {
  const run = await flotilla(fleet, all ? ["alerts", "--all", "--json"] : ["alerts", "--json"]);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as Alert[];
}

describe("alerts with real processes: an agent killed, the fleet under its minimum, the agent back", () => {
  let fleet: LocalFleet;
  let hook: Server;
  const posts: { type?: string; id?: string; rule?: string }[] = [];
  let refused = 0;
  const dir = mkdtempSync(join(tmpdir(), "flotilla-alerts-"));

  beforeAll(async () => {
    // The webhook answers its first POST with a 500, then takes everything.
    hook = createServer((request, response) => {
      let body = "";
      request.setEncoding("utf8");
      request.on("data", (chunk: string) => {
        body += chunk;
      });
      request.on("end", () => {
        if (refused === 0) {
          refused += 1;
          response.writeHead(500).end();
          return;
        }
        posts.push(JSON.parse(body) as (typeof posts)[number]);
        response.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, "127.0.0.1", resolve));
    const config = join(dir, "coordinator.json");
    writeFileSync(
      config,
      JSON.stringify({
        "alert-min-nodes": 2,
        "alert-fire-after-ms": 0,
        "alert-resolve-after-ms": 0,
        "alert-interval-ms": 200,
        "history-interval-ms": 300,
        "alert-webhook": `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alerts`,
      }),
    );
    fleet = await startLocalFleet({
      coordinatorBin: coordinatorBin(),
      agentBin: agentBin(),
      agents: [
        { id: "box-a", slots: 1 },
        { id: "box-b", slots: 1 },
      ],
      coordinatorArgs: ["--log-level", "warn", "--config", config],
    });
  }, 60_000);
  afterAll(async () => {
    await fleet?.stop();
    hook?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("fires cluster_size when an agent is killed, resolves it when the agent is back, and posts both", async () => {
    await waitFor(async () => (await listed(fleet)).every((alert) => alert.rule !== "cluster_size"), {
      what: "no cluster_size alert with both agents up",
      timeoutMs: 20_000,
    });
    const agent = fleet.agents.get("box-b");
    agent?.signal("SIGKILL");
    await agent?.exited;
    const fired = await waitFor(
      async () => (await listed(fleet)).find((alert) => alert.rule === "cluster_size"),
      { what: "cluster_size to fire", timeoutMs: 20_000 },
    );
    expect(fired).toMatchObject({ subject: "fleet", value: 1, threshold: 2 });

    await fleet.startAgent({ id: "box-b", slots: 1 });
    const resolved = await waitFor(
      async () => (await listed(fleet, true)).find((alert) => alert.id === fired.id && alert.resolvedAt),
      { what: "cluster_size to resolve", timeoutMs: 20_000 },
    );
    expect(resolved.resolvedAt).toBeGreaterThanOrEqual(fired.firedAt);
    expect((await listed(fleet)).some((alert) => alert.rule === "cluster_size")).toBe(false);

    await waitFor(
      () =>
        posts.some((post) => post.type === "alert.fired" && post.id === fired.id) &&
        posts.some((post) => post.type === "alert.resolved" && post.id === fired.id),
      { what: "the webhook to get both changes", timeoutMs: 20_000 },
    );
    expect(refused).toBe(1);
  }, 90_000);

  it("keeps the history across a coordinator killed and started again", async () => {
    const client = await connect({ url: fleet.url, token: fleet.token });
    try {
      const before = await waitFor(
        async () => {
          const history = await client.history();
          return history.samples.length >= 3 ? history : undefined;
        },
        { what: "three history samples" },
      );
      expect(before.intervalMs).toBe(300);
      fleet.coordinator.signal("SIGKILL");
      await fleet.coordinator.exited;
      await fleet.restartCoordinator();
      const after = await client.history();
      const times = new Set(after.samples.map((sample) => sample.at));
      for (const sample of before.samples) expect(times.has(sample.at)).toBe(true);
      expect(after.samples.at(-1)?.nodes["box-a"]).toMatchObject({ slotsTotal: 1 });
    } finally {
      client.close();
    }
  }, 90_000);
});
