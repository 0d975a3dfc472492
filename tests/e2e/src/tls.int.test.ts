import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { initFleetTls, type LocalFleet, startLocalFleet } from "@flotilla/launcher";
import { agentBin, coordinatorBin } from "@flotilla/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./cli-process.js";

const run = promisify(execFile);

/** No line of a Node.js stack trace. */
const STACK_LINE = /^\s+at /m;

describe("a fleet over wss:// made with init-tls", () => {
  let dir: string;
  let fleet: LocalFleet;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "flotilla-tls-e2e-"));
    fleet = await startLocalFleet({
      coordinatorBin: coordinatorBin(),
      agentBin: agentBin(),
      agents: [{ id: "box", slots: 2 }],
      tls: await initFleetTls(coordinatorBin(), dir),
      coordinatorArgs: ["--log-level", "warn", "--load-threshold", "1000"],
    });
  }, 60_000);
  afterAll(async () => {
    await fleet?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("runs work for a client given the CA; one without it is refused, told to pass --ca", async () => {
    expect(fleet.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
    const env = { FLOTILLA_URL: fleet.url, FLOTILLA_TOKEN: fleet.token };
    const trusted = await runCli(["--ca", fleet.caFile as string, "run", "--", "echo", "over tls"], env);
    expect(trusted).toMatchObject({ code: 0, stdout: "over tls\n" });

    const stranger = await runCli(["run", "--", "echo", "over tls"], env);
    expect(stranger.code).toBe(2);
    expect(stranger.stdout).toBe("");
    expect(stranger.stderr).toContain("not trusted");
    expect(stranger.stderr).toContain("pass --ca <file>");
    expect(stranger.stderr).not.toMatch(STACK_LINE);
  }, 60_000);

  it("an agent without the CA stops at once with exit 2, saying to pass --ca", async () => {
    const bin = agentBin();
    const agent = await run(
      bin.command,
      [...bin.args, "--coordinator", fleet.url, "--id", "stranger", "--token", fleet.token],
      { timeout: 30_000 },
    ).then(
      () => ({ code: 0, stderr: "" }),
      (error: { code?: number; stderr?: string }) => ({ code: error.code, stderr: error.stderr ?? "" }),
    );
    expect(agent.code).toBe(2);
    expect(agent.stderr).toContain("pass --ca <file>");
    expect(agent.stderr).not.toMatch(STACK_LINE);
  }, 60_000);
});

describe("flotilla demo --tls", () => {
  it("runs the whole demo over wss:// with certificates verified, and shows a client without the CA refused", async () => {
    const demo = await runCli(["demo", "--tls"], { REDIS_URL: "" });
    expect(demo.stderr).not.toMatch(STACK_LINE);
    expect(demo.code).toBe(0);
    expect(demo.stdout).toMatch(/fleet up in [\d.]+ s: coordinator wss:\/\/127\.0\.0\.1:\d+/);
    expect(demo.stdout).toMatch(/a client without the CA is refused: .*pass --ca <file>/);
    expect(demo.stdout).toContain("tasks: 30 accepted, 30 succeeded");
    expect(demo.stdout).toContain("anything lost: 0");
    // The CA and keys it made are gone with the fleet.
    const made = /in (\S*flotilla-demo-tls-\S+)/.exec(demo.stdout)?.[1];
    expect(made).toBeDefined();
    expect(existsSync(made as string)).toBe(false);
  }, 180_000);
});
