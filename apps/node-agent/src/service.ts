import { join } from "node:path";
import { FlotillaError } from "@flotilla/protocol";

/** Everything a service definition needs; all of it is passed in so tests need no real machine. */
export interface ServiceConfig {
  platform: NodeJS.Platform;
  /** The node binary (`process.execPath`). */
  nodePath: string;
  /** The agent's main script, absolute. */
  scriptPath: string;
  /** Agent flags to bake in (no token: that goes in `env` or a token file). */
  args: string[];
  /** Environment for the service, e.g. `FLOTILLA_TOKEN` when no token file is used. */
  env: Record<string, string>;
  workingDirectory: string;
  homeDir: string;
  /** Root installs a system unit; anyone else a user unit (Linux only). */
  isRoot: boolean;
  /** Seconds the service manager waits after SIGTERM before SIGKILL: the agent's drain must fit. */
  stopTimeoutSeconds: number;
}

/** A service file to write and the commands that activate it. */
export interface ServiceFile {
  path: string;
  content: string;
  /** 0600 when the file holds a token, else 0644. */
  mode: number;
  /** Shell commands to run after writing the file. */
  activate: string[];
}

/** The launchd label and systemd unit name. */
export const SERVICE_LABEL = "dev.flotilla.agent";
const UNIT_NAME = "flotilla-agent.service";

/** Picks launchd on macOS and systemd on Linux. */
export function renderService(config: ServiceConfig): ServiceFile {
  if (config.platform === "darwin") return renderLaunchdPlist(config);
  if (config.platform === "linux") return renderSystemdUnit(config);
  throw new FlotillaError(
    "E_CONFIG",
    `install-service supports macOS (launchd) and Linux (systemd), not ${config.platform}`,
  );
}

const xmlEscape = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** A per-user LaunchAgent: it runs in the user's session, so the tasks see the user's tools and keychain. */
export function renderLaunchdPlist(config: ServiceConfig): ServiceFile {
  const strings = (values: string[], indent: string): string =>
    values.map((v) => `${indent}<string>${xmlEscape(v)}</string>`).join("\n");
  const env = Object.entries(config.env)
    .map(([k, v]) => `    <key>${xmlEscape(k)}</key>\n    <string>${xmlEscape(v)}</string>`)
    .join("\n");
  const logPath = join(config.homeDir, "Library", "Logs", "flotilla-agent.log");
  const path = join(config.homeDir, "Library", "LaunchAgents", `${SERVICE_LABEL}.plist`);
  const content = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>${SERVICE_LABEL}</string>
  <key>ProgramArguments</key>
  <array>
${strings([config.nodePath, config.scriptPath, ...config.args], "    ")}
  </array>
  <key>EnvironmentVariables</key>
  <dict>
${env}
  </dict>
  <key>WorkingDirectory</key>
  <string>${xmlEscape(config.workingDirectory)}</string>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <true/>
  <key>ThrottleInterval</key>
  <integer>5</integer>
  <key>ExitTimeOut</key>
  <integer>${config.stopTimeoutSeconds}</integer>
  <key>StandardOutPath</key>
  <string>${xmlEscape(logPath)}</string>
  <key>StandardErrorPath</key>
  <string>${xmlEscape(logPath)}</string>
</dict>
</plist>
`;
  return {
    path,
    content,
    mode: "FLOTILLA_TOKEN" in config.env ? 0o600 : 0o644,
    activate: [
      `launchctl bootout gui/$(id -u)/${SERVICE_LABEL} 2>/dev/null || true`,
      `launchctl bootstrap gui/$(id -u) ${shellQuote(path)}`,
    ],
  };
}

/** Quotes one ExecStart word for systemd: `%` and `$` are specifiers there, not literal characters. */
function systemdWord(word: string): string {
  const escaped = word.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/%/g, "%%").replace(/\$/g, "$$$$");
  return /^[A-Za-z0-9_./:=@+-]+$/.test(word) ? escaped : `"${escaped}"`;
}

/**
 * A systemd unit. `KillMode=mixed` sends SIGTERM to the agent only, so it can drain and hand work back
 * instead of systemd killing every task process in the cgroup at once; the rest get SIGKILL at the timeout.
 */
export function renderSystemdUnit(config: ServiceConfig): ServiceFile {
  const user = !config.isRoot;
  const path = user
    ? join(config.homeDir, ".config", "systemd", "user", UNIT_NAME)
    : join("/etc", "systemd", "system", UNIT_NAME);
  const exec = [config.nodePath, config.scriptPath, ...config.args].map(systemdWord).join(" ");
  const env = Object.entries(config.env).map(([k, v]) => `Environment=${systemdWord(`${k}=${v}`)}`);
  const content = `[Unit]
Description=Flotilla node agent
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=${exec}
WorkingDirectory=${systemdWord(config.workingDirectory)}
${env.join("\n")}${env.length > 0 ? "\n" : ""}Restart=always
RestartSec=5
KillMode=mixed
TimeoutStopSec=${config.stopTimeoutSeconds}

[Install]
WantedBy=${user ? "default.target" : "multi-user.target"}
`;
  const systemctl = user ? "systemctl --user" : "systemctl";
  return {
    path,
    content,
    mode: "FLOTILLA_TOKEN" in config.env ? 0o600 : 0o644,
    activate: [
      `${systemctl} daemon-reload`,
      `${systemctl} enable --now flotilla-agent`,
      ...(user ? ["loginctl enable-linger $(id -un)  # keep it running after you log out"] : []),
    ],
  };
}

/** Quotes a word for a POSIX shell. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@+-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}
