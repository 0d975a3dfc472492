/**
 * What a Flotilla service is, independent of the service manager that runs it, and where each manager
 * keeps its file and logs. `launchd.ts` and `systemd.ts` turn a {@link ServiceSpec} into a file.
 */
import { join } from "node:path";

/** The two service managers Flotilla writes files for. */
export type ServiceManager = "launchd" | "systemd";

/** One program to run as a service. */
export interface ServiceSpec {
  /** Short name: `agent`, `coordinator`, `redis`. The label is `dev.flotilla.<name>`, the unit `flotilla-<name>`. */
  name: string;
  description: string;
  /** The whole command line, program first. */
  command: string[];
  env: Record<string, string>;
  workingDirectory: string;
  homeDir: string;
  /** A LaunchDaemon or system unit rather than a per-user one. */
  system: boolean;
  /** Seconds between SIGTERM and SIGKILL at stop: longer than the program's own drain grace. */
  stopTimeoutSeconds: number;
  /** launchd's ProcessType: `Interactive` keeps builds on a Mac from being throttled like background work. */
  processType: "Interactive" | "Standard" | "Background";
  /** The file holds a secret (a token in its environment): written 0600. */
  secret: boolean;
}

/** A file to write, and how to start and stop what it describes. */
export interface ServiceFile {
  manager: ServiceManager;
  path: string;
  content: string;
  mode: number;
  /** Commands (argv) that load and start the service once the file is written. */
  activate: string[][];
  /** Commands that stop and unload it, run before the file is removed. */
  deactivate: string[][];
}

/** The launchd label of a service. */
export const launchdLabel = (name: string): string => `dev.flotilla.${name}`;

/** The systemd unit of a service. */
export const systemdUnit = (name: string): string => `flotilla-${name}.service`;

/** Where a service's file is. */
export function serviceFilePath(
  manager: ServiceManager,
  name: string,
  homeDir: string,
  system: boolean,
): string {
  if (manager === "launchd") {
    const dir = system ? "/Library/LaunchDaemons" : join(homeDir, "Library", "LaunchAgents");
    return join(dir, `${launchdLabel(name)}.plist`);
  }
  const dir = system ? "/etc/systemd/system" : join(homeDir, ".config", "systemd", "user");
  return join(dir, systemdUnit(name));
}

/** Where launchd services write their logs: `~/Library/Logs/flotilla/`, or `/Library/Logs/flotilla/` for daemons. */
export function launchdLogDir(homeDir: string, system: boolean): string {
  return system ? "/Library/Logs/flotilla" : join(homeDir, "Library", "Logs", "flotilla");
}

/** The manager of a platform, unless one is forced. */
export function managerFor(platform: NodeJS.Platform, forced?: ServiceManager): ServiceManager | undefined {
  if (forced !== undefined) return forced;
  if (platform === "darwin") return "launchd";
  if (platform === "linux") return "systemd";
  return undefined;
}

/** Directories a service's PATH always has, so Homebrew's tools (docker, git, compilers) are found. */
export const SERVICE_PATH_DIRS = [
  "/opt/homebrew/bin",
  "/usr/local/bin",
  "/usr/bin",
  "/bin",
  "/usr/sbin",
  "/sbin",
];

/** The user's PATH with {@link SERVICE_PATH_DIRS} added where missing. */
export function servicePath(userPath: string | undefined): string {
  const dirs = (userPath ?? "").split(":").filter((dir) => dir !== "");
  for (const dir of SERVICE_PATH_DIRS) if (!dirs.includes(dir)) dirs.push(dir);
  return dirs.join(":");
}
