import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type LocalFleet, nodeBin, startLocalFleet } from "@flotilla/launcher";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = new URL("../../../", import.meta.url);
/** The one-file bundles `pnpm build` writes (turbo builds them before this package's tests). */
const BUNDLES = {
  cli: "apps/cli/dist/flotilla.mjs",
  agent: "apps/node-agent/dist/flotilla-agent.mjs",
  coordinator: "apps/coordinator/dist/flotilla-coordinator.mjs",
} as const;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `node <file> ARGS` in `cwd`, with no NODE_PATH or loader to lean on. */
function node(
  file: string,
  args: readonly string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: cwd, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (data: Buffer) => (stdout += data.toString()));
    child.stderr.on("data", (data: Buffer) => (stderr += data.toString()));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("the one-file bundles, each copied alone into an empty directory", () => {
  let dir: string;
  const copies: Record<keyof typeof BUNDLES, string> = { cli: "", agent: "", coordinator: "" };
  let fleet: LocalFleet | undefined;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "flotilla-bundles-"));
    for (const [name, path] of Object.entries(BUNDLES) as [keyof typeof BUNDLES, string][]) {
      const built = fileURLToPath(new URL(path, root));
      if (!existsSync(built)) throw new Error(`${built} is missing: run pnpm build first`);
      copies[name] = join(dir, path.split("/").at(-1) ?? "");
      copyFileSync(built, copies[name]);
    }
  });
  afterAll(async () => {
    await fleet?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(Object.keys(BUNDLES) as (keyof typeof BUNDLES)[])("%s: --help exits 0", async (name) => {
    const run = await node(copies[name], ["--help"], dir);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Usage: flotilla/);
  });

  it("make a working fleet: the coordinator and agent bundles run a command the CLI bundle sends", async () => {
    fleet = await startLocalFleet({
      coordinatorBin: nodeBin(copies.coordinator),
      agentBin: nodeBin(copies.agent),
      agents: [{ id: "bundled", slots: 2 }],
      coordinatorArgs: ["--log-level", "warn", "--load-threshold", "1000"],
    });
    const run = await node(copies.cli, ["run", "--", "sh", "-c", "echo from-a-bundle; exit 3"], dir, {
      FLOTILLA_URL: fleet.url,
      FLOTILLA_TOKEN: fleet.token,
    });
    expect(run.stdout).toBe("from-a-bundle\n");
    expect(run.code).toBe(3);
  }, 60_000);
});
