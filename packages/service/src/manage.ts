/**
 * Installing, removing and inspecting a service on this machine: writes the file, runs the manager's
 * commands through a {@link CommandRunner} (tests pass a fake; a missing `launchctl` or `systemctl` is a
 * failed command, not a crash), and reads the files back for `status`.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { type PlistValue, parse } from "plist";
import { parseQuery, queryCommand, type ServiceRef } from "./control.js";
import { renderLaunchd } from "./launchd.js";
import { type ServiceFile, type ServiceSpec, serviceFilePath } from "./spec.js";
import { renderSystemd } from "./systemd.js";

/** What a command printed and how it exited (127: not found). */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command; `inherit` passes the terminal through (for `logs --follow`). */
export type CommandRunner = (argv: string[], options?: { inherit?: boolean }) => Promise<CommandResult>;

/** Runs commands for real. */
export const runCommand: CommandRunner = (argv, options = {}) =>
  new Promise((resolve) => {
    const [file = "", ...args] = argv;
    if (options.inherit === true) {
      import("node:child_process").then(({ spawn }) => {
        const child = spawn(file, args, { stdio: "inherit" });
        child.on("error", () => resolve({ code: 127, stdout: "", stderr: `${file}: not found` }));
        child.on("exit", (code) => resolve({ code: code ?? 1, stdout: "", stderr: "" }));
      });
      return;
    }
    execFile(file, args, { encoding: "utf8" }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 127;
      resolve({ code, stdout, stderr: stderr || (error?.message ?? "") });
    });
  });

/** The file of a spec for a manager. */
export function renderService(manager: ServiceRef["manager"], spec: ServiceSpec, uid: number): ServiceFile {
  return manager === "launchd" ? renderLaunchd(spec, uid) : renderSystemd(spec);
}

/** Writes each file (parents made, mode set) and runs its activation; returns the commands that failed. */
export async function installFiles(files: ServiceFile[], run: CommandRunner): Promise<string[][]> {
  const failed: string[][] = [];
  for (const file of files) {
    await mkdir(dirname(file.path), { recursive: true });
    await writeFile(file.path, file.content, { mode: file.mode });
    await chmod(file.path, file.mode);
    // launchd refuses to bootstrap a label already loaded: unload the old one first (harmless when none).
    if (file.manager === "launchd") for (const argv of file.deactivate) await run(argv);
    for (const argv of file.activate) {
      const result = await run(argv);
      if (result.code !== 0) failed.push(argv);
    }
  }
  return failed;
}

/** Stops the service and removes its file; false when there was no file. */
export async function uninstallFile(
  path: string,
  deactivate: string[][],
  run: CommandRunner,
): Promise<boolean> {
  if (!existsSync(path)) return false;
  for (const argv of deactivate) await run(argv);
  await rm(path, { force: true });
  return true;
}

/** What `status` finds about one service. */
export interface ServiceStatus {
  ref: ServiceRef;
  path: string;
  installed: boolean;
  /** The file's text, when installed. */
  content?: string;
  /** The program the file starts (node, redis-server), and whether it is still there. */
  program?: string;
  programExists?: boolean;
  /** undefined when the manager could not be asked (not this platform, no user session bus). */
  running?: boolean;
  pid?: number;
  /** The manager's own words when it could not be asked. */
  problem?: string;
}

/** The command line a service file starts. */
export function commandOf(manager: ServiceRef["manager"], content: string): string[] {
  if (manager === "launchd") {
    const parsed = parse(content) as Record<string, PlistValue>;
    const args = parsed.ProgramArguments;
    return Array.isArray(args) ? args.map(String) : [];
  }
  return words(/^ExecStart=(.*)$/m.exec(content)?.[1] ?? "");
}

/** The environment a service file sets. */
export function environmentOf(manager: ServiceRef["manager"], content: string): Record<string, string> {
  if (manager === "launchd") {
    const parsed = parse(content) as Record<string, PlistValue>;
    const env = parsed.EnvironmentVariables;
    if (env === null || typeof env !== "object" || Array.isArray(env)) return {};
    return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
  }
  const env: Record<string, string> = {};
  for (const match of content.matchAll(/^Environment=(.*)$/gm)) {
    const [word = ""] = words(match[1] ?? "");
    const eq = word.indexOf("=");
    if (eq > 0) env[word.slice(0, eq)] = word.slice(eq + 1);
  }
  return env;
}

/** The words of a systemd command line, quotes and specifiers undone. */
function words(line: string): string[] {
  const found: string[] = [];
  for (const match of line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)) {
    const word = match[1] !== undefined ? match[1].replace(/\\(.)/g, "$1") : (match[2] ?? "");
    found.push(word.replace(/%%/g, "%").replace(/\$\$/g, "$"));
  }
  return found;
}

/** Reads a service's file and asks its manager whether it runs. */
export async function serviceStatus(
  ref: ServiceRef,
  homeDir: string,
  run: CommandRunner,
): Promise<ServiceStatus> {
  const path = serviceFilePath(ref.manager, ref.name, homeDir, ref.system);
  const content = await readFile(path, "utf8").catch(() => undefined);
  if (content === undefined) return { ref, path, installed: false };
  const status: ServiceStatus = { ref, path, installed: true, content };
  const program = commandOf(ref.manager, content)[0];
  if (program !== undefined) {
    status.program = program;
    status.programExists = existsSync(program);
  }
  const answer = await run(queryCommand(ref));
  if (ref.manager === "launchd" && answer.code !== 0 && answer.code !== 127) {
    // launchctl print fails for a label that is not loaded: installed but not running.
    status.running = false;
  } else if (answer.code !== 0) {
    status.problem = (answer.stderr.trim().split("\n")[0] ?? "").slice(0, 200) || `exit ${answer.code}`;
  } else {
    Object.assign(status, parseQuery(ref.manager, answer.stdout));
  }
  return status;
}

/** One line per fact of a status, for people. */
export function describeStatus(status: ServiceStatus): string[] {
  const label = `${status.ref.name} (${status.ref.manager}, ${status.ref.system ? "system" : "user"})`;
  if (!status.installed) return [`${label}: not installed (no ${status.path})`];
  const lines = [`${label}: installed at ${status.path}`];
  if (status.running === true)
    lines.push(`  running${status.pid === undefined ? "" : `, pid ${status.pid}`}`);
  else if (status.running === false) lines.push("  not running");
  else lines.push(`  cannot ask ${status.ref.manager}: ${status.problem ?? "unknown"}`);
  if (status.program !== undefined)
    lines.push(
      status.programExists
        ? `  program ${status.program}`
        : `  program ${status.program} NO LONGER EXISTS: reinstall the service (node was upgraded or moved?)`,
    );
  return lines;
}
