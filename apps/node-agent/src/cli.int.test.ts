import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { TestCoordinator } from "../test/test-coordinator.js";
import { createAgent } from "./agent.js";
import { type CliIo, runCli } from "./cli.js";
import { AGENT_VERSION } from "./version.js";

let coordinator: TestCoordinator;
let dir: string;
beforeEach(async () => {
  coordinator = await TestCoordinator.start("tok");
  dir = await mkdtemp(join(tmpdir(), "flotilla-cli-"));
});
afterEach(async () => {
  await coordinator.close();
  await rm(dir, { recursive: true, force: true });
});

function io(extra: Partial<CliIo> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  let stopHandler: (() => void) | undefined;
  const value: CliIo = {
    env: {},
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    onStopSignal: (handler) => {
      stopHandler = handler;
    },
    makeAgent: (options) =>
      createAgent({
        ...options,
        fingerprint: {
          os: "linux",
          distro: "Debian",
          release: "12",
          arch: "x64",
          cpuModel: "cpu",
          cores: 16,
          memoryBytes: 1e9,
          freeDiskBytes: 1e9,
          docker: { available: false },
        },
      }),
    logger: pino({ level: "silent" }),
    ...extra,
  };
  return { io: value, out, err, signal: () => stopHandler?.() };
}

/** install-service as a user on Linux, with fixed paths. */
const LINUX_USER_SERVICE: Partial<CliIo> = {
  platform: "linux",
  homeDir: "/home/ada",
  nodePath: "/usr/bin/node",
  scriptPath: "/opt/a/main.js",
  cwd: "/tmp",
  probe: { exists: () => false, realpath: () => undefined },
};

describe("runCli", () => {
  it("prints help with an example", async () => {
    const t = io();
    expect(await runCli(["--help"], t.io)).toBe(0);
    expect(t.out.join("\n")).toContain("Example:\n  flotilla-agent --coordinator ws://");
  });

  it("prints one ready line, then stops gracefully on a signal with exit 0", async () => {
    const t = io({ env: { FLOTILLA_TOKEN: "tok" } });
    const running = runCli(["--coordinator", coordinator.url, "--id", "mac-mini", "--slots", "8"], t.io);
    await coordinator.waitFor("heartbeat");
    expect(t.out).toEqual([
      `flotilla-agent mac-mini ready: connected to ${coordinator.url} (8 slots; linux, x64, heavy)`,
    ]);
    t.signal();
    expect(await running).toBe(0);
    await coordinator.waitFor("agent.bye");
  });

  it("reads the token from a file and env for the id", async () => {
    const tokenFile = join(dir, "token");
    await writeFile(tokenFile, "tok\n");
    const t = io({ env: { FLOTILLA_COORDINATOR: coordinator.url, FLOTILLA_NODE_ID: "from-env" } });
    const running = runCli(["--token-file", tokenFile, "--label", "heavy=false"], t.io);
    const hello = await coordinator.waitFor("agent.hello");
    expect(hello.node.id).toBe("from-env");
    expect(hello.node.version).toBe(AGENT_VERSION);
    expect(hello.node.capabilities).toContain("light");
    t.signal();
    expect(await running).toBe(0);
  });

  it("exits 1 with one clear line when the token is wrong", async () => {
    const t = io();
    expect(await runCli(["--coordinator", coordinator.url, "--token", "bad"], t.io)).toBe(1);
    expect(t.err).toEqual([
      `flotilla-agent: token rejected by coordinator at ${coordinator.url}: check --token, --token-file or FLOTILLA_TOKEN`,
    ]);
  });

  it("exits 1 with one clear line when the coordinator cannot be reached", async () => {
    const url = coordinator.url;
    await coordinator.close();
    coordinator = await TestCoordinator.start("tok");
    const t = io();
    expect(await runCli(["--coordinator", url, "--token", "tok", "--connect-timeout-ms", "200"], t.io)).toBe(
      1,
    );
    expect(t.err).toEqual([
      `flotilla-agent: cannot reach coordinator at ${url}: is it running and is the address right?`,
    ]);
  });

  it("exits 2 on bad flags", async () => {
    const t = io();
    expect(await runCli(["--coordinator", "http://x", "--token", "t"], t.io)).toBe(2);
    expect(await runCli(["--coordinator", "ws://x", "--token", "t", "--slots", "0"], t.io)).toBe(2);
    expect(await runCli(["--coordinator", "ws://x", "--token", "t", "--label", "nokey"], t.io)).toBe(2);
    expect(await runCli(["frobnicate"], t.io)).toBe(2);
    expect(t.err).toHaveLength(4);
    for (const line of t.err) expect(line).toMatch(/^flotilla-agent: /);
  });

  it("install-service --dry-run prints the unit with the flags, token kept out when a file is given", async () => {
    const tokenFile = join(dir, "token");
    await writeFile(tokenFile, "tok");
    const t = io(LINUX_USER_SERVICE);
    const args = [
      "install-service",
      "--dry-run",
      "--coordinator",
      "ws://box:7420",
      "--token-file",
      tokenFile,
      "--id",
      "linux-box",
    ];
    expect(await runCli(args, t.io)).toBe(0);
    expect(t.out[0]).toBe("# /home/ada/.config/systemd/user/flotilla-agent.service");
    expect(t.out[1]).toContain(
      `ExecStart=/usr/bin/node /opt/a/main.js --coordinator ws://box:7420 --token-file ${tokenFile} --id linux-box`,
    );
    expect(t.out[1]).not.toContain("FLOTILLA_TOKEN");
  });

  it("connects with every setting from a config file (a relative token-file read beside it)", async () => {
    await writeFile(join(dir, "token"), "tok\n");
    const config = join(dir, "agent.json");
    await writeFile(
      config,
      JSON.stringify({
        coordinator: coordinator.url,
        "token-file": "token",
        id: "from-file",
        label: { room: "b12" },
        slots: 3,
      }),
    );
    const t = io({ env: { FLOTILLA_CONFIG: config } });
    const running = runCli([], t.io);
    const hello = await coordinator.waitFor("agent.hello");
    expect(hello.node).toMatchObject({ id: "from-file", slots: 3, labels: { room: "b12" } });
    t.signal();
    expect(await running).toBe(0);
  });

  it("takes a flag over its environment variable over the config file", async () => {
    const config = join(dir, "agent.json");
    await writeFile(config, JSON.stringify({ coordinator: "ws://nowhere:1", token: "bad", id: "file-id" }));
    const t = io({ env: { FLOTILLA_COORDINATOR: coordinator.url, FLOTILLA_NODE_ID: "env-id" } });
    const running = runCli(["--config", config, "--token", "tok", "--id", "flag-id"], t.io);
    const hello = await coordinator.waitFor("agent.hello");
    expect(hello.node.id).toBe("flag-id");
    t.signal();
    expect(await running).toBe(0);
  });

  it("exits 2 with the file's problem: unreadable, not JSON, an unknown setting, a bad value", async () => {
    const t = io();
    expect(await runCli(["--config", join(dir, "missing.json")], t.io)).toBe(2);
    await writeFile(join(dir, "broken.json"), "{coordinator:");
    expect(await runCli(["--config", join(dir, "broken.json")], t.io)).toBe(2);
    await writeFile(join(dir, "typo.json"), '{"slot": 4}');
    expect(await runCli(["--config", join(dir, "typo.json")], t.io)).toBe(2);
    await writeFile(join(dir, "bad.json"), '{"coordinator": "ws://x", "token": "t", "slots": 0}');
    expect(await runCli(["--config", join(dir, "bad.json")], t.io)).toBe(2);
    expect(t.err[0]).toBe(`flotilla-agent: cannot read config file ${join(dir, "missing.json")}: ENOENT`);
    expect(t.err[1]).toContain("broken.json is not valid JSON");
    expect(t.err[2]).toContain('unknown setting "slot"');
    expect(t.err[3]).toBe("flotilla-agent: --slots must be a whole number >= 1");
  });

  it("install-service with a config file leaves the file's settings to it and keeps the token out", async () => {
    const config = join(dir, "agent.json");
    await writeFile(config, JSON.stringify({ coordinator: "ws://box:7420", token: "secret", slots: 4 }));
    const t = io(LINUX_USER_SERVICE);
    expect(
      await runCli(["install-service", "--dry-run", "--config", config, "--id", "linux-box"], t.io),
    ).toBe(0);
    expect(t.out[1]).toContain(`ExecStart=/usr/bin/node /opt/a/main.js --config ${config} --id linux-box\n`);
    expect(t.out[1]).not.toContain("secret");
  });
});

describe("AGENT_VERSION", () => {
  it("matches package.json", async () => {
    const pkg = JSON.parse(await readFile(new URL("../package.json", import.meta.url), "utf8")) as {
      version: string;
    };
    expect(AGENT_VERSION).toBe(pkg.version);
  });
});
