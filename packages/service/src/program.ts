/**
 * A Flotilla program (the agent, the coordinator) as a service: its spec from its flags (a node that
 * survives upgrades, Homebrew's directories on PATH, a rotated log file under launchd) and the glue from
 * an app's command line to {@link runServiceAction}. The apps say what to run; this says how.
 */
import { existsSync, realpathSync } from "node:fs";
import { homedir, userInfo } from "node:os";
import { join } from "node:path";
import { type CommandRunner, renderService, runCommand } from "./manage.js";
import { type NodeCommand, type PathProbe, stableNodeCommand } from "./node-path.js";
import {
  newsyslogFile,
  runServiceAction,
  type ServiceAction,
  type ServiceCommandFlags,
} from "./service-command.js";
import {
  launchdLogDir,
  type ServiceFile,
  type ServiceManager,
  type ServiceSpec,
  servicePath,
} from "./spec.js";

/** What an app's service actions touch outside it; tests pass fakes, `main.ts` nothing (the defaults). */
export interface ProgramServiceIo {
  env: Record<string, string | undefined>;
  /** Writes one line for people (stdout). */
  out: (line: string) => void;
  platform?: NodeJS.Platform;
  /** The running node (`process.execPath`). */
  nodePath?: string;
  /** The program's main script (`process.argv[1]`). */
  scriptPath?: string;
  homeDir?: string;
  uid?: number;
  cwd?: string;
  /** Runs launchctl, systemctl, journalctl. */
  run?: CommandRunner;
  /** How node paths are checked (default: the real file system). */
  probe?: PathProbe;
}

/** A program to run as a service, as the app describes it. */
export interface ProgramService {
  name: string;
  description: string;
  /** Its flags (no secrets: a token goes in `env`, which makes the file 0600). */
  args: string[];
  env: Record<string, string>;
  processType: ServiceSpec["processType"];
  stopTimeoutSeconds: number;
  /** Lines to print after installing. */
  notes: string[];
  /** Its flags hold a secret too (the file is then 0600 as with a token in `env`). */
  secret?: boolean;
}

/** Where and how the program runs, besides what the app says. */
export interface ProgramPlace {
  manager: ServiceManager;
  system: boolean;
  node: NodeCommand;
  scriptPath: string;
  /** The installing user's PATH; the service's has Homebrew's directories added. */
  userPath: string | undefined;
  workingDirectory: string;
  homeDir: string;
}

/** The spec of a program; under launchd it logs to `<name>.log` in `~/Library/Logs/flotilla/`, rotated by size. */
export function programServiceSpec(program: ProgramService, place: ProgramPlace): ServiceSpec {
  const logArgs =
    place.manager === "launchd"
      ? ["--log-file", join(launchdLogDir(place.homeDir, place.system), `${program.name}.log`)]
      : [];
  return {
    name: program.name,
    description: program.description,
    command: [...place.node.argv, place.scriptPath, ...program.args, ...logArgs],
    env: { PATH: servicePath(place.userPath), ...place.node.env, ...program.env },
    workingDirectory: place.workingDirectory,
    homeDir: place.homeDir,
    system: place.system,
    stopTimeoutSeconds: program.stopTimeoutSeconds,
    processType: program.processType,
    secret: program.secret === true || "FLOTILLA_TOKEN" in program.env,
  };
}

const realProbe: PathProbe = {
  exists: existsSync,
  realpath: (path) => {
    try {
      return realpathSync(path);
    } catch {
      return undefined;
    }
  },
};

/** What `build` is given to make extra files (the coordinator's Redis). */
export interface BuildContext extends ProgramPlace {
  uid: number;
}

/**
 * Runs `service <action>` for a program. `describe` (install only) gives the program and any other files
 * to write with it; `names` are the services the app owns, its own first.
 */
export async function runProgramService(
  action: ServiceAction,
  flags: ServiceCommandFlags,
  names: string[],
  describe: (
    context: BuildContext,
  ) => Promise<{ program: ProgramService; extra: ServiceFile[]; notes: string[] }>,
  io: ProgramServiceIo,
): Promise<number> {
  const homeDir = io.homeDir ?? homedir();
  const uid = io.uid ?? process.getuid?.() ?? 0;
  const build = async (manager: ServiceManager, system: boolean) => {
    const node = stableNodeCommand(io.nodePath ?? process.execPath, io.probe ?? realProbe);
    const context: BuildContext = {
      manager,
      system,
      node,
      scriptPath: io.scriptPath ?? process.argv[1] ?? "",
      userPath: io.env.PATH,
      workingDirectory: io.cwd ?? process.cwd(),
      homeDir,
      uid,
    };
    const { program, extra, notes } = await describe(context);
    // The other files (a Redis the program needs) first: the program finds them started.
    const files = [...extra, renderService(manager, programServiceSpec(program, context), uid)];
    const lines = [`node: ${node.argv.join(" ")} (${node.source})`, ...program.notes, ...notes];
    if (node.warning !== undefined) lines.push(`warning: ${node.warning}`);
    if (manager === "launchd") {
      const owner = system ? "" : `${userInfo().username}:staff`;
      const rotation = newsyslogFile(program.name, homeDir, system, owner);
      if (system) files.push(rotation);
      else {
        const rules = rotation.content
          .trim()
          .split("\n")
          .map((line) => `'${line}'`)
          .join(" ");
        lines.push(
          `to rotate launchd's ${program.name}.out.log/.err.log too: printf '%s\\n' ${rules} | sudo tee ${rotation.path}`,
        );
      }
    }
    return { files, notes: lines };
  };
  return runServiceAction(action, flags, names, build, {
    out: io.out,
    platform: io.platform ?? process.platform,
    homeDir,
    uid,
    run: io.run ?? runCommand,
  });
}
