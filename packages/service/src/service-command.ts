/**
 * The `service install|uninstall|status|logs` subcommand both `flotilla-agent` and
 * `flotilla-coordinator` have: its flags, and each action over the service files the app builds. The app
 * knows what to run; this module knows how to install, inspect and remove it.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { FlotillaError } from "@flotilla/protocol";
import { deactivateCommands, logsCommand, type ServiceRef } from "./control.js";
import { launchdOutputPaths } from "./launchd.js";
import { type CommandRunner, describeStatus, installFiles, serviceStatus, uninstallFile } from "./manage.js";
import { launchdLogDir, managerFor, type ServiceFile, type ServiceManager, serviceFilePath } from "./spec.js";

/** The flags of the subcommand, for `parseArgs`. */
export const SERVICE_FLAGS = {
  launchd: { type: "boolean" },
  systemd: { type: "boolean" },
  system: { type: "boolean" },
  "dry-run": { type: "boolean" },
  follow: { type: "boolean", short: "f" },
  lines: { type: "string" },
} as const;

/** The flag names above, to keep them out of config files and baked-in service flags. */
export const SERVICE_FLAG_NAMES = Object.keys(SERVICE_FLAGS);

/** Usage lines for an app's `--help`. */
export const SERVICE_USAGE = `  service install         install as a service with these flags (alias: install-service); it starts
                            at boot or login and again after a crash, not after a clean stop
  service uninstall       stop the service and remove its file
  service status          is it installed, running, and is the node it names still there
  service logs [-f] [--lines n]   recent log lines (and follow them)
    --launchd | --systemd   write that format (default: launchd on macOS, systemd on Linux)
    --system                a LaunchDaemon or system unit rather than a per-user one (run as root)
    --dry-run               print what would be written or run, and change nothing`;

/** The actions. */
export type ServiceAction = "install" | "uninstall" | "status" | "logs";

/** What the subcommand touches outside itself. */
export interface ServiceCommandIo {
  out: (line: string) => void;
  platform: NodeJS.Platform;
  homeDir: string;
  uid: number;
  run: CommandRunner;
}

/** The parsed flags. */
export interface ServiceCommandFlags {
  launchd?: boolean | undefined;
  systemd?: boolean | undefined;
  system?: boolean | undefined;
  "dry-run"?: boolean | undefined;
  follow?: boolean | undefined;
  lines?: string | undefined;
}

/** The action named by `words` (`install-service` or `service <action>`), or undefined when it is not one. */
export function serviceAction(words: string[]): ServiceAction | undefined {
  if (words.length === 1 && words[0] === "install-service") return "install";
  if (words.length !== 2 || words[0] !== "service") return undefined;
  const action = words[1];
  if (action === "install" || action === "uninstall" || action === "status" || action === "logs")
    return action;
  throw new FlotillaError("E_CONFIG", `unknown service action ${action}: install, uninstall, status or logs`);
}

/** The manager the flags and platform choose. */
export function chosenManager(flags: ServiceCommandFlags, platform: NodeJS.Platform): ServiceManager {
  if (flags.launchd === true && flags.systemd === true)
    throw new FlotillaError("E_CONFIG", "--launchd and --systemd: pick one");
  const forced = flags.launchd === true ? "launchd" : flags.systemd === true ? "systemd" : undefined;
  const manager = managerFor(platform, forced);
  if (manager === undefined)
    throw new FlotillaError(
      "E_CONFIG",
      `services run under launchd (macOS) or systemd (Linux), not ${platform}`,
    );
  return manager;
}

/**
 * A newsyslog rule rotating a launchd service's stdout and stderr files (10 MB, 5 kept); `owner` (user:group)
 * keeps a user's files theirs. launchd keeps writing to the file it opened until the service restarts, so
 * these rules bound the small files of start lines and crashes; the service's own log rotates itself.
 */
export function newsyslogFile(name: string, homeDir: string, system: boolean, owner = ""): ServiceFile {
  const output = launchdOutputPaths({ name, homeDir, system });
  const rule = (path: string): string => `${path}\t${owner}\t644\t5\t10240\t*\tN`;
  return {
    manager: "launchd",
    path: `/etc/newsyslog.d/dev.flotilla.${name}.conf`,
    content: `# logfilename\t\t[owner:group]\tmode\tcount\tsize(KB)\twhen\tflags\n${rule(output.stdout)}\n${rule(output.stderr)}\n`,
    mode: 0o644,
    activate: [],
    deactivate: [],
  };
}

/**
 * Runs one action. `names` are the services the app owns (the first is its own; others, like `redis`,
 * are shown and removed only when installed); `build` makes the files to install.
 */
export async function runServiceAction(
  action: ServiceAction,
  flags: ServiceCommandFlags,
  names: string[],
  build: (manager: ServiceManager, system: boolean) => Promise<{ files: ServiceFile[]; notes: string[] }>,
  io: ServiceCommandIo,
): Promise<number> {
  const manager = chosenManager(flags, io.platform);
  const system = flags.system === true;
  const dryRun = flags["dry-run"] === true;
  const refs = names.map((name): ServiceRef => ({ manager, name, system, uid: io.uid }));
  const present = refs.filter(
    (ref, i) => i === 0 || existsSync(serviceFilePath(manager, ref.name, io.homeDir, system)),
  );
  switch (action) {
    case "install": {
      const { files, notes } = await build(manager, system);
      if (dryRun) {
        for (const file of files) {
          io.out(`# ${file.path}`);
          io.out(file.content);
        }
        for (const note of notes) io.out(`# ${note}`);
        return 0;
      }
      const failed = await installFiles(files, io.run).catch((error: NodeJS.ErrnoException) => {
        throw new FlotillaError(
          "E_CONFIG",
          `cannot write ${error.path ?? "the service file"} (${error.code}); try sudo, or --dry-run`,
        );
      });
      for (const file of files) io.out(`wrote ${file.path}`);
      for (const note of notes) io.out(note);
      if (failed.length === 0) {
        io.out(`started; see it with: service status`);
        return 0;
      }
      io.out(`could not start it here; start it with:`);
      for (const argv of failed) io.out(`  ${argv.join(" ")}`);
      return 1;
    }
    case "uninstall": {
      for (const ref of present) {
        const path = serviceFilePath(manager, ref.name, io.homeDir, system);
        const deactivate = deactivateCommands(ref);
        if (dryRun) {
          for (const argv of deactivate) io.out(`would run: ${argv.join(" ")}`);
          io.out(`would remove ${path}`);
          continue;
        }
        const removed = await uninstallFile(path, deactivate, io.run);
        io.out(
          removed ? `stopped ${ref.name} and removed ${path}` : `${ref.name}: not installed (no ${path})`,
        );
      }
      return 0;
    }
    case "status": {
      let code = 0;
      for (const [i, ref] of present.entries()) {
        const status = await serviceStatus(ref, io.homeDir, io.run);
        for (const line of describeStatus(status)) io.out(line);
        if (i === 0 && (!status.installed || status.programExists === false)) code = 1;
      }
      return code;
    }
    case "logs": {
      const lines = Number(flags.lines ?? 100);
      if (!Number.isInteger(lines) || lines < 1)
        throw new FlotillaError("E_CONFIG", "--lines must be a whole number >= 1");
      const [ref] = refs;
      if (ref === undefined) return 0;
      const dir = launchdLogDir(io.homeDir, system);
      const output = launchdOutputPaths({ name: ref.name, homeDir: io.homeDir, system });
      const files = [join(dir, `${ref.name}.log`), output.stdout, output.stderr].filter((f) => existsSync(f));
      if (manager === "launchd" && files.length === 0) {
        io.out(`no log files in ${dir} yet`);
        return 1;
      }
      const argv = logsCommand(ref, files, lines, flags.follow === true);
      if (dryRun) {
        io.out(argv.join(" "));
        return 0;
      }
      return (await io.run(argv, { inherit: true })).code === 0 ? 0 : 1;
    }
  }
}
