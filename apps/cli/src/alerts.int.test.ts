import { type Coordinator, createCoordinator } from "@flotilla/coordinator";
import { type Agent, createAgent } from "@flotilla/node-agent";
import { type RedisServer, startRedis, waitFor } from "@flotilla/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliIo, runMain } from "./cli.js";

/** Runs `flotilla` against the coordinator and returns its exit code and output. */
async function flotilla(url: string, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const collect = () => {
    const stream = {
      text: "",
      write(text: string) {
        stream.text += text;
        return true;
      },
    };
    return stream;
  };
  const out = collect();
  const err = collect();
  const io: CliIo = {
    stdout: out,
    stderr: err,
    env: { FLOTILLA_URL: url, FLOTILLA_TOKEN: "alerts-token" },
    homedir: "/home/test",
    readFile: () => undefined,
    onInterrupt: () => () => undefined,
  };
  const code = await runMain(argv, io);
  return { code, out: out.text, err: err.text };
}

const silent = pino({ level: "silent" });

describe("flotilla alerts, against a real coordinator", () => {
  let redis: RedisServer;
  let coordinator: Coordinator;
  let agent: Agent;

  beforeAll(async () => {
    redis = await startRedis();
    // One node against a minimum of two: cluster_size fires at the first evaluation.
    coordinator = createCoordinator({
      redisUrl: redis.url,
      token: "alerts-token",
      port: 0,
      alerts: { minNodes: 2, fireAfterMs: 0, resolveAfterMs: 0 },
      alertIntervalMs: 100,
    });
    await coordinator.start();
    agent = createAgent({ coordinatorUrl: coordinator.url, token: "alerts-token", slots: 1, logger: silent });
    await agent.start();
  }, 30_000);
  afterAll(async () => {
    await agent?.stop({ now: true });
    await coordinator?.stop();
    await redis?.dispose();
  });

  it("lists the firing alerts as JSON and as a table", async () => {
    const firing = await waitFor(
      async () => {
        const { code, out } = await flotilla(coordinator.url, "alerts", "--json");
        expect(code).toBe(0);
        const alerts = JSON.parse(out) as { rule: string; value: number }[];
        return alerts.find((alert) => alert.rule === "cluster_size" && alert.value === 1);
      },
      { what: "cluster_size firing with one node", timeoutMs: 15_000 },
    );
    expect(firing).toMatchObject({ subject: "fleet", threshold: 2 });
    expect(firing).not.toHaveProperty("resolvedAt");

    const listed = await flotilla(coordinator.url, "alerts");
    expect(listed.code).toBe(0);
    expect(listed.out).toMatch(/^STATE\s+RULE\s+SUBJECT/);
    expect(listed.out).toMatch(/firing\s+cluster_size\s+fleet\s+1\s+2/);

    const all = await flotilla(coordinator.url, "alerts", "--all", "--json");
    expect(all.code).toBe(0);
    expect(Array.isArray(JSON.parse(all.out))).toBe(true);
  }, 30_000);

  it("has --help", async () => {
    const help = await flotilla(coordinator.url, "alerts", "--help");
    expect(help.code).toBe(0);
    expect(help.out).toContain("flotilla alerts [--all] [--json]");
  });
});
