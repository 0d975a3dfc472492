/**
 * The commands that start, stop and query a service with its manager (`launchctl`, `systemctl`,
 * `journalctl`, `tail`), as argv arrays. Nothing here runs them: `manage.ts` does, through a runner
 * tests replace.
 */
import { launchdLabel, type ServiceManager, systemdUnit } from "./spec.js";

const launchdDomain = (system: boolean, uid: number): string => (system ? "system" : `gui/${uid}`);
const systemctl = (system: boolean): string[] => (system ? ["systemctl"] : ["systemctl", "--user"]);

/** Where a service is and under which manager. */
export interface ServiceRef {
  manager: ServiceManager;
  name: string;
  system: boolean;
  uid: number;
}

/** Loads and starts the service whose file is at `path`. */
export function activateCommands(ref: ServiceRef, path: string): string[][] {
  if (ref.manager === "launchd")
    return [["launchctl", "bootstrap", launchdDomain(ref.system, ref.uid), path]];
  return [
    [...systemctl(ref.system), "daemon-reload"],
    [...systemctl(ref.system), "enable", "--now", systemdUnit(ref.name)],
  ];
}

/** Stops and unloads the service. */
export function deactivateCommands(ref: ServiceRef): string[][] {
  if (ref.manager === "launchd")
    return [["launchctl", "bootout", `${launchdDomain(ref.system, ref.uid)}/${launchdLabel(ref.name)}`]];
  return [
    [...systemctl(ref.system), "disable", "--now", systemdUnit(ref.name)],
    [...systemctl(ref.system), "daemon-reload"],
  ];
}

/** Asks the manager about the service: exit 0 when it is loaded. */
export function queryCommand(ref: ServiceRef): string[] {
  if (ref.manager === "launchd")
    return ["launchctl", "print", `${launchdDomain(ref.system, ref.uid)}/${launchdLabel(ref.name)}`];
  return [...systemctl(ref.system), "show", systemdUnit(ref.name), "--property=ActiveState,SubState,MainPID"];
}

/** Shows the service's recent log lines (and follows them with `follow`). */
export function logsCommand(ref: ServiceRef, files: string[], lines: number, follow: boolean): string[] {
  if (ref.manager === "launchd") return ["tail", "-n", String(lines), ...(follow ? ["-F"] : []), ...files];
  return [
    "journalctl",
    ...(ref.system ? [] : ["--user"]),
    "-u",
    systemdUnit(ref.name),
    "-n",
    String(lines),
    ...(follow ? ["-f"] : ["--no-pager"]),
  ];
}

/** Whether the manager's answer to {@link queryCommand} says the service is running, and its pid. */
export function parseQuery(manager: ServiceManager, stdout: string): { running: boolean; pid?: number } {
  if (manager === "launchd") {
    const pid = /^\s*pid = (\d+)/m.exec(stdout)?.[1];
    return {
      running: /^\s*state = running/m.test(stdout),
      ...(pid === undefined ? {} : { pid: Number(pid) }),
    };
  }
  const pid = Number(/^MainPID=(\d+)/m.exec(stdout)?.[1] ?? 0);
  return { running: /^ActiveState=active/m.test(stdout), ...(pid > 0 ? { pid } : {}) };
}
