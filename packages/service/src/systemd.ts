/**
 * systemd units. `KillMode=mixed` sends SIGTERM to the main process only, so it can drain and hand work
 * back instead of systemd killing every task process in the cgroup at once; the rest get SIGKILL at the
 * timeout. `Restart=on-failure` restarts a crash but not a clean stop. Output goes to journald, which
 * rotates it (`journalctl --user -u flotilla-agent`).
 */
import { activateCommands, deactivateCommands } from "./control.js";
import { type ServiceFile, type ServiceSpec, serviceFilePath } from "./spec.js";

/** Quotes one word for an ExecStart or Environment line: `%` and `$` are specifiers there, not text. */
export function systemdWord(word: string): string {
  const escaped = word.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/%/g, "%%").replace(/\$/g, "$$$$");
  return /^[A-Za-z0-9_./:=@+-]+$/.test(word) ? escaped : `"${escaped}"`;
}

/** The unit of a service: a user unit, or a system unit with `system`. */
export function renderSystemd(spec: ServiceSpec): ServiceFile {
  const path = serviceFilePath("systemd", spec.name, spec.homeDir, spec.system);
  const env = Object.entries(spec.env).map(([k, v]) => `Environment=${systemdWord(`${k}=${v}`)}\n`);
  const content = `[Unit]
Description=${spec.description}
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=${spec.command.map(systemdWord).join(" ")}
WorkingDirectory=${systemdWord(spec.workingDirectory)}
${env.join("")}Restart=on-failure
RestartSec=5
KillMode=mixed
TimeoutStopSec=${spec.stopTimeoutSeconds}

[Install]
WantedBy=${spec.system ? "multi-user.target" : "default.target"}
`;
  const ref = { manager: "systemd" as const, name: spec.name, system: spec.system, uid: 0 };
  return {
    manager: "systemd",
    path,
    content,
    mode: spec.secret ? 0o600 : 0o644,
    activate: activateCommands(ref, path),
    deactivate: deactivateCommands(ref),
  };
}
