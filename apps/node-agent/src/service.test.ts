import { type ProgramPlace, programServiceSpec, renderService } from "@flotilla/service";
import { parse } from "plist";
import { describe, expect, it } from "vitest";
import { AGENT_STOP_TIMEOUT_SECONDS, agentProgram } from "./service.js";

interface Input extends ProgramPlace {
  args: string[];
  env: Record<string, string>;
}

const agentServiceSpec = (input: Input) =>
  programServiceSpec(agentProgram({ args: input.args, env: input.env, spawnNote: "" }), input);

const base: Input = {
  manager: "systemd",
  system: true,
  node: { argv: ["/usr/bin/node"], env: {}, source: "as-is" },
  scriptPath: "/opt/flotilla/dist/main.js",
  args: ["--coordinator", "ws://box:7420", "--id", "linux-box", "--label", "note=50% & <more>"],
  env: { FLOTILLA_TOKEN: "t0k$en" },
  userPath: "/usr/bin:/bin",
  workingDirectory: "/srv/flotilla",
  homeDir: "/home/ada",
};

describe("the agent's service", () => {
  it("is a system unit for --system with flags baked in and systemd specials escaped", () => {
    const file = renderService("systemd", agentServiceSpec(base), 0);
    expect(file.path).toBe("/etc/systemd/system/flotilla-agent.service");
    expect(file.mode).toBe(0o600);
    expect(file.content).toContain(
      'ExecStart=/usr/bin/node /opt/flotilla/dist/main.js --coordinator ws://box:7420 --id linux-box --label "note=50%% & <more>"\n',
    );
    expect(file.content).toContain('Environment="FLOTILLA_TOKEN=t0k$$en"');
    expect(file.content).toContain(
      "Environment=PATH=/usr/bin:/bin:/opt/homebrew/bin:/usr/local/bin:/usr/sbin:/sbin",
    );
    expect(file.content).toContain("Restart=on-failure");
    expect(file.content).toContain("KillMode=mixed");
    expect(file.content).toContain(`TimeoutStopSec=${AGENT_STOP_TIMEOUT_SECONDS}`);
    expect(file.content).toContain("WantedBy=multi-user.target");
    expect(file.activate).toEqual([
      ["systemctl", "daemon-reload"],
      ["systemctl", "enable", "--now", "flotilla-agent.service"],
    ]);
  });

  it("is a user unit otherwise", () => {
    const file = renderService("systemd", agentServiceSpec({ ...base, system: false, env: {} }), 501);
    expect(file.path).toBe("/home/ada/.config/systemd/user/flotilla-agent.service");
    expect(file.mode).toBe(0o644);
    expect(file.content).toContain("WantedBy=default.target");
    expect(file.activate[1]).toEqual(["systemctl", "--user", "enable", "--now", "flotilla-agent.service"]);
  });

  it("is a LaunchAgent plist that parses back with every key", () => {
    const spec = agentServiceSpec({
      ...base,
      manager: "launchd",
      system: false,
      homeDir: "/Users/ada",
      node: { argv: ["/Users/ada/.nvm/nvm-exec", "node"], env: { NODE_VERSION: "default" }, source: "nvm" },
      env: { FLOTILLA_TOKEN: "t0k$en", FLOTILLA_SPAWN_HELPER: "node" },
    });
    const file = renderService("launchd", spec, 501);
    expect(file.path).toBe("/Users/ada/Library/LaunchAgents/dev.flotilla.agent.plist");
    const plist = parse(file.content) as Record<string, unknown>;
    expect(plist).toEqual({
      Label: "dev.flotilla.agent",
      ProgramArguments: [
        "/Users/ada/.nvm/nvm-exec",
        "node",
        "/opt/flotilla/dist/main.js",
        ...base.args,
        "--log-file",
        "/Users/ada/Library/Logs/flotilla/agent.log",
      ],
      EnvironmentVariables: {
        PATH: "/usr/bin:/bin:/opt/homebrew/bin:/usr/local/bin:/usr/sbin:/sbin",
        NODE_VERSION: "default",
        FLOTILLA_TOKEN: "t0k$en",
        FLOTILLA_SPAWN_HELPER: "node",
      },
      WorkingDirectory: "/srv/flotilla",
      RunAtLoad: true,
      KeepAlive: { SuccessfulExit: false },
      ThrottleInterval: 10,
      ProcessType: "Interactive",
      ExitTimeOut: AGENT_STOP_TIMEOUT_SECONDS,
      StandardOutPath: "/Users/ada/Library/Logs/flotilla/agent.out.log",
      StandardErrorPath: "/Users/ada/Library/Logs/flotilla/agent.err.log",
      LimitLoadToSessionType: "Aqua",
    });
    expect(AGENT_STOP_TIMEOUT_SECONDS).toBeGreaterThan(30);
    expect(file.content).toContain("<string>note=50% &amp; &lt;more&gt;</string>");
    expect(file.activate).toEqual([
      ["launchctl", "bootstrap", "gui/501", "/Users/ada/Library/LaunchAgents/dev.flotilla.agent.plist"],
    ]);
  });

  it("is a LaunchDaemon with --system", () => {
    const file = renderService("launchd", agentServiceSpec({ ...base, manager: "launchd" }), 0);
    expect(file.path).toBe("/Library/LaunchDaemons/dev.flotilla.agent.plist");
    const plist = parse(file.content) as Record<string, unknown>;
    expect(plist.StandardOutPath).toBe("/Library/Logs/flotilla/agent.out.log");
    expect(plist.LimitLoadToSessionType).toBeUndefined();
    expect(file.deactivate).toEqual([["launchctl", "bootout", "system/dev.flotilla.agent"]]);
  });
});
