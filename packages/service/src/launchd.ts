/**
 * launchd property lists, built with the `plist` library. `KeepAlive {SuccessfulExit: false}` restarts a
 * crash but not a clean exit (a stop the user asked for); `ExitTimeOut` gives the drain time to finish.
 */
import { join } from "node:path";
import { build, type PlistValue } from "plist";
import { activateCommands, deactivateCommands } from "./control.js";
import { launchdLabel, launchdLogDir, type ServiceFile, type ServiceSpec, serviceFilePath } from "./spec.js";

/** Seconds launchd waits before starting a crashed service again. */
export const LAUNCHD_THROTTLE_SECONDS = 10;

/** Where a launchd service's stdout and stderr go. */
export function launchdOutputPaths(spec: Pick<ServiceSpec, "name" | "homeDir" | "system">): {
  stdout: string;
  stderr: string;
} {
  const dir = launchdLogDir(spec.homeDir, spec.system);
  return { stdout: join(dir, `${spec.name}.out.log`), stderr: join(dir, `${spec.name}.err.log`) };
}

/** The plist of a service: a LaunchAgent (the user's session, its keychain and tools) or a LaunchDaemon. */
export function renderLaunchd(spec: ServiceSpec, uid: number): ServiceFile {
  const label = launchdLabel(spec.name);
  const path = serviceFilePath("launchd", spec.name, spec.homeDir, spec.system);
  const output = launchdOutputPaths(spec);
  const plist: Record<string, PlistValue> = {
    Label: label,
    ProgramArguments: spec.command,
    EnvironmentVariables: spec.env,
    WorkingDirectory: spec.workingDirectory,
    RunAtLoad: true,
    KeepAlive: { SuccessfulExit: false },
    ThrottleInterval: LAUNCHD_THROTTLE_SECONDS,
    ProcessType: spec.processType,
    ExitTimeOut: spec.stopTimeoutSeconds,
    StandardOutPath: output.stdout,
    StandardErrorPath: output.stderr,
  };
  // The login session only: listing "Background" too would load a second copy in the user's background
  // domain, and two agents with one node id evict each other.
  if (!spec.system) plist.LimitLoadToSessionType = "Aqua";
  const ref = { manager: "launchd" as const, name: spec.name, system: spec.system, uid };
  return {
    manager: "launchd",
    path,
    content: `${build(plist)}\n`,
    mode: spec.secret ? 0o600 : 0o644,
    activate: activateCommands(ref, path),
    deactivate: deactivateCommands(ref),
  };
}
