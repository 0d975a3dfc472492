import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { recordingServiceIo } from "@flotilla/service";
import { freePort, waitFor } from "@flotilla/testing";
import { Redis } from "ioredis";
import { parse } from "plist";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runCli } from "./cli.js";

let home: string;
let redis: ChildProcess | undefined;
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), "flotilla-home-"));
  await writeFile(join(home, "token"), "tok\n");
});
afterEach(async () => {
  if (redis !== undefined && redis.exitCode === null) {
    const exited = new Promise((resolve) => redis?.once("exit", resolve));
    redis.kill("SIGKILL");
    await exited;
  }
  redis = undefined;
  await rm(home, { recursive: true, force: true });
});

const io = (platform: NodeJS.Platform) => recordingServiceIo(home, platform);

describe("flotilla-coordinator service, into a temporary HOME", () => {
  it("--with-redis writes a durable Redis that starts from its config, and units systemd accepts", async () => {
    const port = await freePort();
    const dataDir = join(home, "redis-data");
    const t = io("linux");
    const args = [
      "service",
      "install",
      "--with-redis",
      "--redis-bind",
      "127.0.0.1",
      "--redis-port",
      String(port),
    ];
    args.push("--redis-dir", dataDir, "--token-file", join(home, "token"), "--port", "7421");
    expect(await runCli(args, t.io), t.err.join("\n")).toBe(0);
    const unitDir = join(home, ".config/systemd/user");
    const coordinatorUnit = await readFile(join(unitDir, "flotilla-coordinator.service"), "utf8");
    expect(coordinatorUnit).toContain(
      `ExecStart=${process.execPath} ${join(home, "main.js")} --token-file ${join(home, "token")} --port 7421 --redis redis://127.0.0.1:${port}\n`,
    );
    const redisUnit = await readFile(join(unitDir, "flotilla-redis.service"), "utf8");
    expect(redisUnit).toMatch(new RegExp(`ExecStart=\\S*redis-server ${join(dataDir, "redis.conf")}\n`));
    for (const unit of ["flotilla-coordinator.service", "flotilla-redis.service"]) {
      const verify = spawnSync("systemd-analyze", ["verify", join(unitDir, unit)], { encoding: "utf8" });
      expect(verify.error, "systemd-analyze must be installed (apt-get install systemd)").toBeUndefined();
      expect(verify.status, verify.stderr).toBe(0);
    }
    expect(t.calls).toContainEqual(["systemctl", "--user", "enable", "--now", "flotilla-redis.service"]);

    // The config runs as written, with the persistence the coordinator's --require-durable wants.
    const [command = "", ...rest] = (/^ExecStart=(.*)$/m.exec(redisUnit)?.[1] ?? "").split(" ");
    redis = spawn(command, rest, { stdio: "ignore" });
    const client = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 50 });
    client.on("error", () => {});
    try {
      await waitFor(() => client.ping().catch(() => undefined), {
        what: "redis-server from the written config",
      });
      expect(await client.config("GET", "appendonly")).toEqual(["appendonly", "yes"]);
      expect(await client.config("GET", "appendfsync")).toEqual(["appendfsync", "everysec"]);
      expect(await client.config("GET", "maxmemory-policy")).toEqual(["maxmemory-policy", "noeviction"]);
      expect(await client.config("GET", "bind")).toEqual(["bind", "127.0.0.1"]);
    } finally {
      client.disconnect();
    }

    const status = io("linux");
    expect(await runCli(["service", "status"], status.io)).toBe(0);
    expect(status.out.filter((line) => line.includes("installed at"))).toHaveLength(2);
    const removal = io("linux");
    expect(await runCli(["service", "uninstall"], removal.io)).toBe(0);
    expect(existsSync(join(unitDir, "flotilla-coordinator.service"))).toBe(false);
    expect(existsSync(join(unitDir, "flotilla-redis.service"))).toBe(false);
    expect(existsSync(join(dataDir, "redis.conf"))).toBe(true);
  });

  it("keeps a token given on the command line out of the flags, in a 0600 plist; --dry-run writes nothing", async () => {
    const t = io("darwin");
    expect(
      await runCli(["service", "install", "--dry-run", "--token", "s3cret", "--port", "7421"], t.io),
    ).toBe(0);
    expect(t.out[0]).toBe(`# ${join(home, "Library/LaunchAgents/dev.flotilla.coordinator.plist")}`);
    const plist = parse(t.out[1] ?? "") as Record<string, unknown>;
    expect(plist.ProgramArguments).toEqual([
      process.execPath,
      join(home, "main.js"),
      "--port",
      "7421",
      "--log-file",
      join(home, "Library/Logs/flotilla/coordinator.log"),
    ]);
    expect(plist.EnvironmentVariables).toMatchObject({ FLOTILLA_TOKEN: "s3cret" });
    expect(plist.ProcessType).toBe("Standard");
    expect(plist.KeepAlive).toEqual({ SuccessfulExit: false });
    expect(t.calls).toEqual([]);
    expect(existsSync(join(home, "Library"))).toBe(false);

    const real = io("darwin");
    expect(await runCli(["install-service", "--token", "s3cret"], real.io)).toBe(0);
    const written = join(home, "Library/LaunchAgents/dev.flotilla.coordinator.plist");
    expect((await import("node:fs")).statSync(written).mode & 0o777).toBe(0o600);
  });

  it("refuses flags a start would refuse, with exit 2", async () => {
    const t = io("linux");
    expect(await runCli(["service", "install", "--port", "x", "--token", "t"], t.io)).toBe(2);
    expect(await runCli(["service", "install"], t.io)).toBe(2);
    expect(t.err[1]).toContain("a token is required");
  });
});
