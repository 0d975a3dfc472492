import { mkdtemp, rm } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { type Coordinator, createCoordinator } from "@flotilla/coordinator";
import type { CommandRunner } from "@flotilla/service";
import { type RedisServer, startRedis } from "@flotilla/testing";
import { afterEach, describe, expect, it } from "vitest";
import { type CliIo, runMain } from "./cli.js";
import type { Check } from "./doctor/check.js";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A real Redis (AOF as asked) and a real coordinator with token `tok` on it. */
async function fleet(
  appendOnly: "everysec" | false,
): Promise<{ redis: RedisServer; coordinator: Coordinator }> {
  const redis = await startRedis({ appendOnly });
  cleanups.push(() => redis.dispose());
  const coordinator = createCoordinator({
    redisUrl: redis.url,
    token: "tok",
    port: 0,
  });
  await coordinator.start();
  cleanups.push(() => coordinator.stop());
  return { redis, coordinator };
}

/** No docker here and no service manager to ask: the same answers on every machine. */
const run: CommandRunner = async () => ({ code: 127, stdout: "", stderr: "not found" });

async function doctor(env: Record<string, string>, ...argv: string[]) {
  const home = await mkdtemp(join(tmpdir(), "flotilla-doctor-"));
  cleanups.push(() => rm(home, { recursive: true, force: true }));
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env,
    homedir: home,
    readFile: () => undefined,
    run,
    platform: "linux",
  };
  const code = await runMain(["doctor", ...argv], io);
  return { code, stdout, stderr };
}

const byName = (checks: Check[]) => Object.fromEntries(checks.map((c) => [c.check, c]));

describe("flotilla doctor", () => {
  it("passes against a durable Redis and the right token, one JSON object per check", async () => {
    const { redis, coordinator } = await fleet("everysec");
    const result = await doctor(
      { FLOTILLA_URL: coordinator.url, FLOTILLA_TOKEN: "tok" },
      "--redis",
      redis.url,
      "--json",
    );
    const checks = JSON.parse(result.stdout) as Check[];
    for (const check of checks) {
      expect(Object.keys(check).sort()).toEqual(["check", "detail", "fix", "status"]);
      expect(["ok", "warn", "fail"]).toContain(check.status);
    }
    const found = byName(checks);
    expect(Object.keys(found)).toEqual([
      "redis",
      "redis persistence",
      "clock skew",
      "coordinator",
      "token",
      "versions",
      "this node",
      "docker",
      "service",
      "spawn helper",
      "log disk",
    ]);
    expect(found.redis?.status).toBe("ok");
    expect(found["redis persistence"]).toMatchObject({
      status: "ok",
      detail: "appendonly yes, maxmemory-policy noeviction",
    });
    expect(found["clock skew"]?.status).toBe("ok");
    expect(found.coordinator?.status).toBe("ok");
    expect(found.token).toMatchObject({ status: "ok", detail: "accepted: 0 node(s) listed" });
    expect(found.versions?.detail).toBe("flotilla 0.1.0, coordinator 0.1.0, agent not seen");
    expect(found["this node"]).toMatchObject({ status: "warn" });
    expect(found["this node"]?.detail).toContain(hostname());
    expect(found.docker).toMatchObject({ status: "warn", detail: "docker is not installed" });
    expect(found.service?.status).toBe("warn");
    expect(result.code).toBe(0);
  });

  it("fails the persistence check against a Redis without the append-only file, and exits 1", async () => {
    const { redis, coordinator } = await fleet(false);
    const result = await doctor(
      { FLOTILLA_URL: coordinator.url, FLOTILLA_TOKEN: "tok" },
      "--redis",
      redis.url,
    );
    expect(result.code).toBe(1);
    const line = result.stdout.split("\n").find((l) => l.includes("redis persistence"));
    expect(line).toMatch(
      /^fail {2}redis persistence +appendonly no, maxmemory-policy noeviction: a restart loses tasks — fix: CONFIG SET appendonly yes/,
    );
  });

  it("fails the token check with a wrong token, and says so when Redis or the coordinator cannot be reached", async () => {
    const { coordinator } = await fleet("everysec");
    const wrong = await doctor({ FLOTILLA_URL: coordinator.url, FLOTILLA_TOKEN: "nope" }, "--json");
    expect(wrong.code).toBe(1);
    const found = byName(JSON.parse(wrong.stdout) as Check[]);
    expect(found.token).toMatchObject({
      status: "fail",
      detail: "refused by the coordinator (E_UNAUTHORIZED)",
    });
    expect(found.coordinator?.status).toBe("ok");
    expect(found.redis).toMatchObject({ status: "warn", detail: "not checked: no Redis address given" });

    const nowhere = await doctor(
      { FLOTILLA_URL: "ws://127.0.0.1:1", FLOTILLA_TOKEN: "tok" },
      "--redis",
      "redis://127.0.0.1:1",
      "--json",
    );
    expect(nowhere.code).toBe(1);
    const gone = byName(JSON.parse(nowhere.stdout) as Check[]);
    expect(gone.redis?.status).toBe("fail");
    expect(gone.coordinator?.status).toBe("fail");
  });
});
