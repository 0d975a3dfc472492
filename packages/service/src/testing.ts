/**
 * A machine for tests of the `service` commands: a temporary HOME, the running node, and a
 * launchctl/systemctl that records what it is asked and answers as `answer` says (exit 0 by default).
 */
import { join } from "node:path";
import type { CommandRunner } from "./manage.js";
import type { ProgramServiceIo } from "./program.js";

/** What a test reads back: the io to pass, the lines printed and the commands run. */
export interface RecordingServiceIo {
  io: ProgramServiceIo & { err: (line: string) => void };
  out: string[];
  err: string[];
  calls: string[][];
}

/** An io for `platform` with HOME `home` and the program's script at `<home>/main.js`. */
export function recordingServiceIo(
  home: string,
  platform: NodeJS.Platform,
  answer: (argv: string[]) => { code: number; stdout: string } = () => ({ code: 0, stdout: "" }),
): RecordingServiceIo {
  const out: string[] = [];
  const err: string[] = [];
  const calls: string[][] = [];
  const run: CommandRunner = async (argv) => {
    calls.push(argv);
    return { ...answer(argv), stderr: "" };
  };
  return {
    io: {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
      out: (line) => out.push(line),
      err: (line) => err.push(line),
      platform,
      homeDir: home,
      uid: 501,
      cwd: home,
      nodePath: process.execPath,
      scriptPath: join(home, "main.js"),
      run,
    },
    out,
    err,
    calls,
  };
}
