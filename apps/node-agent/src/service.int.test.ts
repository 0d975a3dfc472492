import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CommandRunner, recordingServiceIo } from "@flotilla/service";
import { parse } from "plist";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type CliIo, runCli } from "./cli.js";

let home: string;
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), "flotilla-home-"));
});
afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

/** A launchctl/systemctl answering as `answer` says, recording what it is asked. */
function fakeManager(answer?: (argv: string[]) => { code: number; stdout: string }) {
  const recording = recordingServiceIo("", "linux", answer);
  return { calls: recording.calls, run: recording.io.run as CommandRunner };
}

function io(platform: NodeJS.Platform, run: CommandRunner) {
  const recording = recordingServiceIo(home, platform);
  const value: CliIo = { ...recording.io, env: { PATH: "/usr/bin:/bin" }, run };
  return { io: value, out: recording.out, err: recording.err };
}

const FLAGS = ["--coordinator", "ws://box:7420", "--id", "mac-mini", "--label", "gpu=true"];

describe("flotilla-agent service, into a temporary HOME", () => {
  it("installs a LaunchAgent whose plist parses back with every key; status and uninstall use it", async () => {
    const tokenFile = join(home, "token");
    await writeFile(tokenFile, "tok\n");
    const manager = fakeManager((argv) =>
      argv[1] === "print"
        ? { code: 0, stdout: "\tstate = running\n\tpid = 4242\n" }
        : { code: 0, stdout: "" },
    );
    const t = io("darwin", manager.run);
    const args = ["service", "install", ...FLAGS, "--token-file", tokenFile, "--spawn-helper", "node"];
    expect(await runCli(args, t.io)).toBe(0);
    const path = join(home, "Library/LaunchAgents/dev.flotilla.agent.plist");
    expect(t.out[0]).toBe(`wrote ${path}`);
    expect(t.out.join("\n")).toContain("spawn helper: node, as chosen");
    const plist = parse(await readFile(path, "utf8")) as Record<string, unknown>;
    expect(Object.keys(plist).sort()).toEqual(
      [
        "Label",
        "ProgramArguments",
        "EnvironmentVariables",
        "WorkingDirectory",
        "RunAtLoad",
        "KeepAlive",
        "ThrottleInterval",
        "ProcessType",
        "ExitTimeOut",
        "StandardOutPath",
        "StandardErrorPath",
        "LimitLoadToSessionType",
      ].sort(),
    );
    expect(plist.ProgramArguments).toEqual([
      process.execPath,
      join(home, "main.js"),
      "--coordinator",
      "ws://box:7420",
      "--token-file",
      tokenFile,
      "--id",
      "mac-mini",
      "--label",
      "gpu=true",
      "--log-file",
      join(home, "Library/Logs/flotilla/agent.log"),
    ]);
    expect(plist.EnvironmentVariables).toMatchObject({ FLOTILLA_SPAWN_HELPER: "node" });
    expect(plist.KeepAlive).toEqual({ SuccessfulExit: false });
    expect(manager.calls).toContainEqual(["launchctl", "bootstrap", "gui/501", path]);

    const status = io("darwin", manager.run);
    expect(await runCli(["service", "status"], status.io)).toBe(0);
    expect(status.out).toEqual([
      `agent (launchd, user): installed at ${path}`,
      "  running, pid 4242",
      `  program ${process.execPath}`,
    ]);

    const removal = io("darwin", manager.run);
    expect(await runCli(["service", "uninstall"], removal.io)).toBe(0);
    expect(manager.calls.at(-1)).toEqual(["launchctl", "bootout", "gui/501/dev.flotilla.agent"]);
    expect(existsSync(path)).toBe(false);
    const after = io("darwin", manager.run);
    expect(await runCli(["service", "status"], after.io)).toBe(1);
    expect(after.out[0]).toContain("not installed");
  });

  it("installs a user unit that systemd-analyze verify accepts; status says when its node is gone", async () => {
    const manager = fakeManager((argv) =>
      argv.includes("show")
        ? { code: 0, stdout: "ActiveState=active\nSubState=running\nMainPID=77\n" }
        : { code: 0, stdout: "" },
    );
    const t = io("linux", manager.run);
    await writeFile(join(home, "main.js"), "");
    expect(await runCli(["install-service", ...FLAGS, "--token", "s3cret"], t.io)).toBe(0);
    const path = join(home, ".config/systemd/user/flotilla-agent.service");
    const unit = await readFile(path, "utf8");
    expect(unit).toContain("Environment=FLOTILLA_TOKEN=s3cret");
    expect(manager.calls).toContainEqual([
      "systemctl",
      "--user",
      "enable",
      "--now",
      "flotilla-agent.service",
    ]);

    const verify = spawnSync("systemd-analyze", ["verify", path], { encoding: "utf8" });
    expect(verify.error, "systemd-analyze must be installed (apt-get install systemd)").toBeUndefined();
    expect(verify.stderr.split("\n").filter((line) => line.includes(path))).toEqual([]);
    expect(verify.status).toBe(0);

    const status = io("linux", manager.run);
    expect(await runCli(["service", "status"], status.io)).toBe(0);
    expect(status.out[1]).toBe("  running, pid 77");

    // The node the unit names disappears (an upgrade removed that version): status says so, exit 1.
    await writeFile(path, unit.replace(process.execPath, join(home, "gone/node")));
    const stale = io("linux", manager.run);
    expect(await runCli(["service", "status"], stale.io)).toBe(1);
    expect(stale.out.join("\n")).toContain(`${join(home, "gone/node")} NO LONGER EXISTS`);

    const removal = io("linux", manager.run);
    expect(await runCli(["service", "uninstall"], removal.io)).toBe(0);
    expect(existsSync(path)).toBe(false);
    expect(manager.calls.slice(-2)).toEqual([
      ["systemctl", "--user", "disable", "--now", "flotilla-agent.service"],
      ["systemctl", "--user", "daemon-reload"],
    ]);
  });

  it("--dry-run prints the file it would write and writes nothing; --launchd forces a plist", async () => {
    const manager = fakeManager();
    const t = io("linux", manager.run);
    expect(
      await runCli(["service", "install", "--dry-run", "--launchd", ...FLAGS, "--token", "t"], t.io),
    ).toBe(0);
    expect(t.out[0]).toBe(`# ${join(home, "Library/LaunchAgents/dev.flotilla.agent.plist")}`);
    expect(t.out[1]).toContain("<key>ProcessType</key>");
    expect(manager.calls).toEqual([]);
    expect(existsSync(join(home, "Library"))).toBe(false);
    const logs = io("linux", manager.run);
    expect(await runCli(["service", "logs", "--dry-run", "--lines", "20"], logs.io)).toBe(0);
    expect(logs.out).toEqual(["journalctl --user -u flotilla-agent.service -n 20 --no-pager"]);
  });
});
