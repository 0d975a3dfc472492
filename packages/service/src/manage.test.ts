import { describe, expect, it } from "vitest";
import { parseQuery } from "./control.js";
import { commandOf, environmentOf, renderService } from "./manage.js";
import type { ServiceSpec } from "./spec.js";

const spec: ServiceSpec = {
  name: "agent",
  description: "Flotilla node agent",
  command: ["/opt/node/bin/node", "/srv/a b/main.js", "--label", 'note=50% & "quoted" $HOME'],
  env: { PATH: "/usr/bin:/bin", FLOTILLA_TOKEN: "t0k$en%x" },
  workingDirectory: "/srv",
  homeDir: "/home/ada",
  system: false,
  stopTimeoutSeconds: 45,
  processType: "Interactive",
  secret: true,
};

describe("reading a service file back", () => {
  it.each(["launchd", "systemd"] as const)("gives the command and environment written (%s)", (manager) => {
    const file = renderService(manager, spec, 501);
    expect(commandOf(manager, file.content)).toEqual(spec.command);
    expect(environmentOf(manager, file.content)).toEqual(spec.env);
  });

  it("reads whether launchctl and systemctl say it runs", () => {
    expect(parseQuery("launchd", "\tstate = running\n\tpid = 12\n")).toEqual({ running: true, pid: 12 });
    expect(parseQuery("launchd", "\tstate = not running\n")).toEqual({ running: false });
    expect(parseQuery("systemd", "ActiveState=active\nSubState=running\nMainPID=9\n")).toEqual({
      running: true,
      pid: 9,
    });
    expect(parseQuery("systemd", "ActiveState=failed\nMainPID=0\n")).toEqual({ running: false });
  });
});
