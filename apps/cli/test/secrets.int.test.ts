import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCoordinator } from "@flotilla/coordinator";
import { createAgent } from "@flotilla/node-agent";
import { type RedisServer, startRedis } from "@flotilla/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runMain } from "../src/cli.js";
import { EXIT } from "../src/exit-codes.js";

const SECRET = "cli-s3cret/value@x";

/** Runs `flotilla ARGS` in this process against `url`; what it wrote to each stream. */
async function flotilla(url: string, token: string, ...argv: string[]) {
  const streams = { stdout: "", stderr: "" };
  const code = await runMain(argv, {
    stdout: { write: (text: string) => (streams.stdout += text) },
    stderr: { write: (text: string) => (streams.stderr += text) },
    env: { FLOTILLA_URL: url, FLOTILLA_TOKEN: token },
    homedir: "/nonexistent",
    readFile: () => undefined,
  });
  return { code, ...streams };
}

describe("flotilla run --secret-env against a real fleet", { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "flotilla-cli-secrets-"));
  const token = "cli-test-token";
  let redis: RedisServer;
  let coordinator: ReturnType<typeof createCoordinator>;
  let agent: ReturnType<typeof createAgent>;

  beforeAll(async () => {
    redis = await startRedis();
    coordinator = createCoordinator({
      redisUrl: redis.url,
      token,
      port: 0,
      host: "127.0.0.1",
      secretKey: join(dir, "secret.key"),
    });
    await coordinator.start();
    agent = createAgent({ id: "box", coordinatorUrl: coordinator.url, token, slots: 1 });
    await agent.start();
  });
  afterAll(async () => {
    await agent?.stop({ now: true });
    await coordinator?.stop();
    await redis?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it("gives the process the value, masks it in the output, and status shows K=***", async () => {
    const file = join(dir, "seen.txt");
    const run = await flotilla(
      coordinator.url,
      token,
      ...["run", "--env", `OUT=${file}`, "--secret-env", `DEPLOY_KEY=${SECRET}`, "--"],
      ...["sh", "-c", 'printf %s "$DEPLOY_KEY" > "$OUT"; echo "key: $DEPLOY_KEY"'],
    );
    expect(run.code).toBe(EXIT.OK);
    expect(run.stdout).toBe("key: ***\n");
    expect(readFileSync(file, "utf8")).toBe(SECRET);

    const ps = await flotilla(coordinator.url, token, "ps", "--json");
    const [task] = JSON.parse(ps.stdout) as { id: string }[];
    if (task === undefined) throw new Error("ps listed no task");
    expect(ps.stdout).not.toContain(SECRET);
    const json = await flotilla(coordinator.url, token, "status", "--json", task.id);
    expect(JSON.parse(json.stdout)).toMatchObject({
      state: "succeeded",
      spec: { env: { OUT: file }, secretEnv: { DEPLOY_KEY: "***" } },
    });
    const text = await flotilla(coordinator.url, token, "status", task.id);
    expect(text.stdout).toMatch(/^env\s+OUT=\S+ DEPLOY_KEY=\*\*\*$/m);
    expect(json.stdout + text.stdout).not.toContain(SECRET);
  });
});
