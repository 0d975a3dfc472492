import { describe, expect, it } from "vitest";
import { renderService, type ServiceConfig } from "./service.js";

const base: ServiceConfig = {
  platform: "linux",
  nodePath: "/usr/bin/node",
  scriptPath: "/opt/flotilla/dist/main.js",
  args: ["--coordinator", "ws://box:7420", "--id", "linux-box", "--label", "note=50% & <more>"],
  env: { PATH: "/usr/bin:/bin", FLOTILLA_TOKEN: "t0k$en" },
  workingDirectory: "/srv/flotilla",
  homeDir: "/home/ada",
  isRoot: true,
  stopTimeoutSeconds: 45,
};

describe("renderService", () => {
  it("writes a system unit for root with flags baked in and systemd specials escaped", () => {
    const file = renderService(base);
    expect(file.path).toBe("/etc/systemd/system/flotilla-agent.service");
    expect(file.mode).toBe(0o600);
    expect(file.content).toContain(
      'ExecStart=/usr/bin/node /opt/flotilla/dist/main.js --coordinator ws://box:7420 --id linux-box --label "note=50%% & <more>"',
    );
    expect(file.content).toContain('Environment="FLOTILLA_TOKEN=t0k$$en"');
    expect(file.content).toContain("KillMode=mixed");
    expect(file.content).toContain("TimeoutStopSec=45");
    expect(file.content).toContain("WantedBy=multi-user.target");
    expect(file.activate).toEqual(["systemctl daemon-reload", "systemctl enable --now flotilla-agent"]);
  });

  it("writes a user unit when not root", () => {
    const file = renderService({ ...base, isRoot: false, env: { PATH: "/bin" } });
    expect(file.path).toBe("/home/ada/.config/systemd/user/flotilla-agent.service");
    expect(file.mode).toBe(0o644);
    expect(file.content).toContain("WantedBy=default.target");
    expect(file.activate[1]).toBe("systemctl --user enable --now flotilla-agent");
  });

  it("writes a LaunchAgent plist on macOS", () => {
    const file = renderService({ ...base, platform: "darwin", homeDir: "/Users/ada" });
    expect(file.path).toBe("/Users/ada/Library/LaunchAgents/dev.flotilla.agent.plist");
    expect(file.content).toContain("<key>Label</key>\n  <string>dev.flotilla.agent</string>");
    expect(file.content).toContain(
      [
        "    <string>/usr/bin/node</string>",
        "    <string>/opt/flotilla/dist/main.js</string>",
        "    <string>--coordinator</string>",
        "    <string>ws://box:7420</string>",
      ].join("\n"),
    );
    expect(file.content).toContain("<string>note=50% &amp; &lt;more&gt;</string>");
    expect(file.content).toContain("<key>FLOTILLA_TOKEN</key>\n    <string>t0k$en</string>");
    expect(file.content).toContain("<key>KeepAlive</key>\n  <true/>");
    expect(file.content).toContain("<key>ExitTimeOut</key>\n  <integer>45</integer>");
    expect(file.activate[1]).toBe(
      "launchctl bootstrap gui/$(id -u) /Users/ada/Library/LaunchAgents/dev.flotilla.agent.plist",
    );
  });

  it("refuses other platforms with E_CONFIG", () => {
    expect(() => renderService({ ...base, platform: "win32" })).toThrow(/launchd/);
  });
});
