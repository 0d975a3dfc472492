import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { LocalFleet } from "@flotilla/launcher";

const cliEntry = fileURLToPath(new URL("../../../apps/cli/src/main.ts", import.meta.url));
const tsx = import.meta.resolve("tsx");

/** How a `flotilla` subprocess ended. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `flotilla ARGS` from this checkout's sources as a real subprocess, with `env` over this process's
 * environment and no user config file; `input`, when given, is its standard input.
 */
export function runCli(
  args: readonly string[],
  env: Record<string, string> = {},
  input?: string,
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--conditions=source", "--import", tsx, cliEntry, ...args], {
      env: { ...process.env, XDG_CONFIG_HOME: "/nonexistent", ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    // No input: standard input is empty, as with "ignore".
    child.stdin.end(input ?? "");
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (data: Buffer) => (stdout += data.toString()));
    child.stderr.on("data", (data: Buffer) => (stderr += data.toString()));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs `flotilla ARGS` as a real subprocess against the fleet, with its URL and token (and `input`). */
export function flotilla(fleet: LocalFleet, args: readonly string[], input?: string): Promise<CliRun> {
  return runCli(args, { FLOTILLA_URL: fleet.url, FLOTILLA_TOKEN: fleet.token }, input);
}
