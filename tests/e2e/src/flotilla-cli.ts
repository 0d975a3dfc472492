/** Runs the `flotilla` command from this checkout's sources as a real subprocess, for the end-to-end tests. */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { LocalFleet } from "@flotilla/launcher";

const cliEntry = fileURLToPath(new URL("../../../apps/cli/src/main.ts", import.meta.url));
const tsx = import.meta.resolve("tsx");

/** How a `flotilla` run ended and what it printed. */
export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `flotilla ARGS` as a real subprocess against the fleet. */
export function flotilla(fleet: LocalFleet, args: readonly string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--conditions=source", "--import", tsx, cliEntry, ...args], {
      env: {
        ...process.env,
        FLOTILLA_URL: fleet.url,
        FLOTILLA_TOKEN: fleet.token,
        XDG_CONFIG_HOME: "/nonexistent",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (data: Buffer) => (stdout += data.toString()));
    child.stderr.on("data", (data: Buffer) => (stderr += data.toString()));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}
