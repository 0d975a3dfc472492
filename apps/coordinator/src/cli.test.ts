import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { TokenAuthority, tokenHash } from "./auth.js";
import { resolveCoordinatorOptions, runCli, USAGE } from "./cli.js";
import type { CoordinatorOptions } from "./options.js";

const dir = mkdtempSync(join(tmpdir(), "flotilla-coordinator-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes a file under the test's directory and returns its path. */
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function options(argv: string[], env: Record<string, string> = {}): Promise<CoordinatorOptions> {
  const resolved = await resolveCoordinatorOptions(argv, env);
  if (resolved === "help") throw new Error("unexpected help");
  return resolved;
}

async function failure(argv: string[], env: Record<string, string> = {}): Promise<string> {
  const errors: string[] = [];
  const code = await runCli(argv, { env, out: () => {}, err: (line) => errors.push(line) });
  expect(code).toBe(2);
  return errors.join("\n");
}

describe("flotilla-coordinator settings", () => {
  it("takes Redis Sentinel, Redis Cluster and --redis-wait-replicas from flags, the sentinel flags together", async () => {
    const resolved = await options([
      "--token",
      "t",
      "--redis-sentinel",
      "127.0.0.1:26379,127.0.0.1:26380",
      "--redis-master",
      "main",
      "--redis-wait-replicas",
      "1",
    ]);
    expect(resolved).toMatchObject({
      redisWaitReplicas: 1,
      redisConnection: {
        masterName: "main",
        sentinels: [
          { host: "127.0.0.1", port: 26379 },
          { host: "127.0.0.1", port: 26380 },
        ],
      },
    });
    expect(await failure(["--token", "t", "--redis-master", "main"])).toMatch(/go together/);
    expect(
      (await options(["--token", "t", "--prefix", "{f}", "--redis-cluster", "10.0.0.1:7000,10.0.0.2:7000"]))
        .redisConnection,
    ).toEqual({
      cluster: [
        { host: "10.0.0.1", port: 7000 },
        { host: "10.0.0.2", port: 7000 },
      ],
    });
    expect(await failure(["--token", "t", "--redis-sentinel", "nope", "--redis-master", "m"])).toMatch(
      /host:port entries/,
    );
  });

  it("takes the connection limits and --metrics-public from flags and config keys", async () => {
    const config = file(
      "limits.json",
      JSON.stringify({ token: "t", "max-watches": 5, "max-buffered-bytes": 1024, "metrics-public": true }),
    );
    const resolved = await options([
      "--config",
      config,
      "--max-frames-per-second",
      "200",
      "--max-submits-per-second",
      "0",
      "--max-connections-per-token",
      "3",
    ]);
    expect(resolved).toMatchObject({
      maxFramesPerSecond: 200,
      maxSubmitsPerSecond: 0,
      maxConnectionsPerToken: 3,
      maxWatchesPerConnection: 5,
      maxBufferedBytes: 1024,
      metricsPublic: true,
    });
    expect(await failure(["--token", "t", "--max-watches", "1.5"])).toMatch(/--max-watches wants/);
  });

  it("reads every setting from a config file keyed by flag name", async () => {
    file("fleet-token", "from-token-file\n");
    const config = file(
      "all.json",
      JSON.stringify({
        redis: "redis://10.0.0.5:6380",
        port: 7421,
        host: "127.0.0.1",
        "token-file": "fleet-token",
        "node-token": { "mac-mini": "mini-secret" },
        prefix: "lab",
        "heartbeat-ms": 500,
        "dead-after-ms": 3000,
        strategy: "round_robin",
        "load-threshold": 2.5,
        "fallback-node": "mac-mini",
        "hold-ahead-ms": 0,
        "log-level": "warn",
      }),
    );
    const resolved = await options(["--config", config]);
    expect(resolved).toMatchObject({
      redisUrl: "redis://10.0.0.5:6380",
      port: 7421,
      host: "127.0.0.1",
      token: "from-token-file",
      nodeTokens: { "mac-mini": "mini-secret" },
      prefix: "lab",
      heartbeatIntervalMs: 500,
      deadAfterMs: 3000,
      strategy: "round_robin",
      loadThreshold: 2.5,
      fallbackNode: "mac-mini",
      holdAheadMs: 0,
    });
    // FLOTILLA_CONFIG names the same file.
    expect(await options([], { FLOTILLA_CONFIG: config })).toMatchObject({
      port: 7421,
      token: "from-token-file",
    });
  });

  it("takes a flag over its environment variable over the file over the default", async () => {
    const config = file("some.json", '{"redis": "redis://file:1", "port": 7001, "token": "file-token"}');
    expect(await options(["--config", config])).toMatchObject({
      redisUrl: "redis://file:1",
      port: 7001,
      token: "file-token",
    });
    expect(
      await options(["--config", config], {
        FLOTILLA_REDIS_URL: "redis://env:2",
        FLOTILLA_PORT: "7002",
        FLOTILLA_TOKEN: "env-token",
      }),
    ).toMatchObject({ redisUrl: "redis://env:2", port: 7002, token: "env-token" });
    expect(
      await options(
        ["--config", config, "--redis", "redis://flag:3", "--port", "7003", "--token", "flag-token"],
        {
          FLOTILLA_REDIS_URL: "redis://env:2",
          FLOTILLA_PORT: "7002",
          FLOTILLA_TOKEN: "env-token",
        },
      ),
    ).toMatchObject({ redisUrl: "redis://flag:3", port: 7003, token: "flag-token" });
    const bare = await options(["--config", file("empty.json", "{}"), "--token", "t"]);
    expect(bare.redisUrl).toBe("redis://127.0.0.1:6379");
    expect(bare.port).toBeUndefined();
  });

  it("lets a token given by flag or environment replace the file's token file, not the other way round", async () => {
    file("file-token", "from-file\n");
    const config = file("token-file.json", '{"token-file": "file-token"}');
    expect((await options(["--config", config])).token).toBe("from-file");
    expect((await options(["--config", config, "--token", "flag"])).token).toBe("flag");
    expect((await options(["--config", config], { FLOTILLA_TOKEN: "env" })).token).toBe("env");
  });

  it("keeps the secret key beside the token file unless --secret-key-file names one", async () => {
    file("fleet-token", "t\n");
    expect((await options(["--token-file", join(dir, "fleet-token")])).secretKey).toBe(
      join(dir, "secret.key"),
    );
    expect((await options(["--token", "t", "--secret-key-file", "/etc/flotilla/k"])).secretKey).toBe(
      "/etc/flotilla/k",
    );
    const config = file("key.json", '{"token": "t", "secret-key-file": "keys/fleet.key"}');
    expect((await options(["--config", config])).secretKey).toBe(join(dir, "keys", "fleet.key"));
  });

  it("takes scoped tokens from the config file's tokens section, checked as a token file's are", async () => {
    const laptop = { name: "laptop", scope: "submit", hash: tokenHash("laptop-token") };
    const wall = { name: "wall", scope: "read", hash: tokenHash("wall-token") };
    const tokensFile = file("more-tokens.json", JSON.stringify({ tokens: [wall] }));
    const config = file("tokens-section.json", JSON.stringify({ port: 7010, tokens: [laptop] }));
    const resolved = await options(["--config", config]);
    expect(resolved).toMatchObject({ port: 7010, tokens: [laptop] });
    expect(resolved.token).toBeUndefined();
    // The section and a token file add up.
    expect((await options(["--config", config, "--tokens-file", tokensFile])).tokens).toEqual([laptop, wall]);
    const authority = new TokenAuthority(undefined, {}, resolved.tokens);
    expect(authority.authenticate("laptop-token")).toEqual({ name: "laptop", scope: "submit" });

    const bad = (name: string, tokens: unknown): string => file(name, JSON.stringify({ tokens }));
    expect(await failure(["--config", bad("not-a-list.json", { laptop })])).toContain(
      "not-a-list.json: tokens must be a list of { name, scope, hash }",
    );
    expect(await failure(["--config", bad("no-hash.json", [{ name: "x", scope: "read" }])])).toMatch(
      /config file \S*no-hash\.json: tokens\[0\] wants string name, scope and hash/,
    );
    expect(await failure(["--config", bad("scope.json", [{ ...laptop, scope: "root" }])])).toContain(
      'tokens[0]: unknown token scope "root"',
    );
    expect(await failure(["--config", bad("plain.json", [{ ...laptop, hash: "laptop-token" }])])).toContain(
      "tokens[0]: hash must be 64 hex digits (the token's SHA-256)",
    );
  });

  it("says what is wrong with a config file, and exits 2", async () => {
    expect(await failure(["--config", join(dir, "missing.json")])).toMatch(
      /^flotilla-coordinator: cannot read config file .*missing\.json: ENOENT/,
    );
    expect(await failure(["--config", file("typo.json", '{"prot": 7420, "token": "t"}')])).toContain(
      'unknown setting "prot"',
    );
    expect(await failure(["--config", file("broken.json", "{port: 7420")])).toContain("is not valid JSON");
    expect(await failure(["--config", file("bad-port.json", '{"port": "many", "token": "t"}')])).toContain(
      '--port wants a whole number >= 0, got "many"',
    );
    expect(await failure(["--config", file("no-token.json", '{"port": 7420}')])).toContain(
      "a token is required",
    );
  });

  it("reads the retention, output and waiting-list limits from flags and the config file", async () => {
    const flags = await options([
      "--token",
      "t",
      "--retention-days",
      "0.5",
      "--retention-max-finished",
      "2000",
      "--dead-letter-retention-days",
      "3",
      "--max-output-bytes",
      "4096",
      "--max-waiting",
      "50",
    ]);
    expect(flags).toMatchObject({
      retentionMs: 12 * 3600 * 1000,
      retentionMaxFinished: 2000,
      deadLetterRetentionMs: 3 * 24 * 3600 * 1000,
      maxOutputBytes: 4096,
      maxWaiting: 50,
    });
    const config = file(
      "limits.json",
      '{"token": "t", "retention-days": 14, "retention-max-finished": 10, "max-waiting": 0}',
    );
    expect(await options(["--config", config])).toMatchObject({
      retentionMs: 14 * 24 * 3600 * 1000,
      retentionMaxFinished: 10,
      maxWaiting: 0,
    });
    expect(await failure(["--token", "t", "--retention-max-finished", "1.5"])).toContain(
      '--retention-max-finished wants a whole number >= 0, got "1.5"',
    );
    expect(USAGE).toContain("--retention-days <x>");
  });

  it("reads the alert thresholds, webhook and history settings from flags and the config file", async () => {
    const flags = await options([
      "--token",
      "t",
      "--alert-min-nodes",
      "2",
      "--alert-cpu-load",
      "0.95",
      "--alert-fire-after-ms",
      "0",
      "--alert-webhook",
      "http://127.0.0.1:9/hook",
      "--history-minutes",
      "30",
    ]);
    expect(flags).toMatchObject({
      alerts: { minNodes: 2, cpuLoadPerCore: 0.95, fireAfterMs: 0 },
      alertWebhookUrl: "http://127.0.0.1:9/hook",
      historyMinutes: 30,
    });
    const config = file(
      "alerts.json",
      '{"token": "t", "alert-max-nodes": 40, "alert-stability": 0.99, "alert-interval-ms": 500}',
    );
    expect(await options(["--config", config])).toMatchObject({
      alerts: { maxNodes: 40, stability: 0.99 },
      alertIntervalMs: 500,
    });
    expect(await failure(["--token", "t", "--alert-min-nodes", "1.5"])).toContain(
      '--alert-min-nodes wants a whole number >= 0, got "1.5"',
    );
    expect(USAGE).toContain("--alert-webhook <url>");
  });

  it("documents the config file in --help", () => {
    expect(USAGE).toContain("--config <path>");
    expect(USAGE).toContain("FLOTILLA_CONFIG");
    expect(USAGE).toContain("else the config file");
  });
});
