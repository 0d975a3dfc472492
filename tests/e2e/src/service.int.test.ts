import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { agentBin } from "@flotilla/testing";
import { afterAll, describe, expect, it } from "vitest";

const home = mkdtempSync(join(tmpdir(), "flotilla-service-home-"));
const tokenDir = mkdtempSync(join(tmpdir(), "flotilla-service-token-"));
writeFileSync(join(tokenDir, "token"), "tok\n");
afterAll(() => {
  rmSync(home, { recursive: true, force: true });
  rmSync(tokenDir, { recursive: true, force: true });
});

describe("flotilla-agent service install as a real process", () => {
  it("self-tests the native helper, prints the unit and the helper line, writes nothing, exits 0", () => {
    const bin = agentBin();
    const args = ["service", "install", "--dry-run", "--systemd", "--coordinator", "ws://studio.local:7420"];
    const run = spawnSync(bin.command, [...bin.args, ...args, "--token-file", join(tokenDir, "token")], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home },
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(run.stdout).toContain(`# ${join(home, ".config/systemd/user/flotilla-agent.service")}`);
    expect(run.stdout).toMatch(/^# spawn helper: native \(.*\), self-test passed$/m);
    expect(spawnSync("ls", ["-A", home], { encoding: "utf8" }).stdout).toBe("");
  });
});
