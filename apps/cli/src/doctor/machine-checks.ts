/**
 * The doctor's checks of this machine: docker, the agent's service (installed, running, its node still
 * there), which spawn helper that agent uses, and free disk where the logs go.
 */
import { existsSync } from "node:fs";
import { statfs } from "node:fs/promises";
import { dirname, join } from "node:path";
import {
  type CommandRunner,
  environmentOf,
  launchdLogDir,
  managerFor,
  type ServiceStatus,
  serviceStatus,
} from "@flotilla/service";
import { type Check, fail, ok, reason, warn, within } from "./check.js";

/** Free space for logs below this is a warning, below a tenth of it a failure. */
export const LOW_DISK_BYTES = 1024 ** 3;

/** Whether the docker daemon answers. */
export async function dockerCheck(run: CommandRunner): Promise<Check> {
  const answer = await within(
    run(["docker", "version", "--format", "{{.Server.Version}}"]),
    15_000,
    "docker",
  ).catch((error: unknown) => ({ code: 1, stdout: "", stderr: reason(error) }));
  if (answer.code === 0) return ok("docker", `docker ${answer.stdout.trim()} answers`);
  if (answer.code === 127)
    return warn(
      "docker",
      "docker is not installed",
      "install Docker if tasks here need it (capability docker)",
    );
  const why = answer.stderr.trim().split("\n").at(-1) ?? "";
  return warn(
    "docker",
    `the docker daemon does not answer: ${why}`,
    "start Docker Desktop, or the docker service",
  );
}

/** The agent's service, user first then system; undefined when neither is installed. */
export async function agentService(
  platform: NodeJS.Platform,
  homeDir: string,
  uid: number,
  run: CommandRunner,
): Promise<ServiceStatus | undefined> {
  const manager = managerFor(platform);
  if (manager === undefined) return undefined;
  for (const system of [false, true]) {
    const status = await serviceStatus({ manager, name: "agent", system, uid }, homeDir, run);
    if (status.installed) return status;
  }
  return undefined;
}

/** The agent's service: installed, running, and its node still there. */
export function serviceCheck(status: ServiceStatus | undefined): Check {
  if (status === undefined)
    return warn(
      "service",
      "no flotilla-agent service on this machine",
      "flotilla-agent service install --coordinator <url> --token-file <file> (see docs/deploy.md)",
    );
  const where = `${status.ref.manager} ${status.ref.system ? "system" : "user"} service ${status.path}`;
  if (status.programExists === false)
    return fail(
      "service",
      `${where} starts ${status.program}, which no longer exists`,
      "flotilla-agent service install again (node was upgraded or moved)",
    );
  if (status.running === true)
    return ok("service", `${where} runs${status.pid === undefined ? "" : ` (pid ${status.pid})`}`);
  if (status.running === false)
    return fail(
      "service",
      `${where} is installed but not running`,
      "flotilla-agent service logs, then service install again",
    );
  return warn(
    "service",
    `${where} is installed; cannot ask ${status.ref.manager}: ${status.problem ?? ""}`,
    "check it with launchctl or systemctl",
  );
}

/** Which spawn helper the installed agent uses, from its service file and its package. */
export function spawnHelperCheck(status: ServiceStatus | undefined): Check {
  if (status?.content === undefined)
    return warn("spawn helper", "unknown: no agent service to read it from", "install the agent's service");
  const env = environmentOf(status.ref.manager, status.content);
  const chosen = env.FLOTILLA_SPAWN_HELPER;
  if (chosen === "node")
    return ok(
      "spawn helper",
      "node, as chosen in the service (about 3x the agent CPU per command of the native one)",
    );
  if (chosen !== undefined && chosen !== "native")
    return existsSync(chosen)
      ? ok("spawn helper", `${chosen}, as chosen in the service (self-tested at each start)`)
      : fail(
          "spawn helper",
          `${chosen}, chosen in the service, does not exist`,
          "fix FLOTILLA_SPAWN_HELPER or reinstall with --spawn-helper node",
        );
  const script = agentScript(status.content);
  const native =
    script === undefined
      ? undefined
      : join(dirname(script), "..", "native", "build", "flotilla-spawn-helper");
  if (native !== undefined && existsSync(native))
    return ok("spawn helper", `native (${native}), used when it passes its self-test at start`);
  return warn(
    "spawn helper",
    "node: the agent's package has no native helper built (no C compiler when it was installed?)",
    "install a C compiler (xcode-select --install) and reinstall the agent, or choose --spawn-helper node to silence this",
  );
}

/** The agent's main script in a service file. */
function agentScript(content: string): string | undefined {
  const match =
    /[^\s"'<>]*(?:node-agent\/dist\/main\.js|flotilla-agent\.mjs|flotilla-agent\/dist\/main\.js)/.exec(
      content,
    );
  return match?.[0];
}

/** Free space where the services write their logs. */
export async function diskCheck(platform: NodeJS.Platform, homeDir: string): Promise<Check> {
  let dir = platform === "darwin" ? launchdLogDir(homeDir, false) : "/var/log/journal";
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  try {
    const stats = await statfs(dir);
    const free = stats.bavail * stats.bsize;
    const detail = `${(free / 1024 ** 3).toFixed(1)} GB free for logs at ${dir}`;
    if (free < LOW_DISK_BYTES / 10)
      return fail("log disk", detail, "free some space: logs, builds and Redis's AOF need it");
    if (free < LOW_DISK_BYTES) return warn("log disk", detail, "free some space soon");
    return ok("log disk", detail);
  } catch (error) {
    return warn("log disk", `cannot read free space at ${dir}: ${reason(error)}`, "check df");
  }
}
