import { homedir } from "node:os";
import { runMain } from "./cli.js";

/** Resolves once everything written to `stream` has been handed to the OS (pipes are async on macOS). */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => stream.write("", () => resolve()));
}

const code = await runMain(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  homedir: homedir(),
  onInterrupt(handler) {
    process.on("SIGINT", handler);
    return () => process.off("SIGINT", handler);
  },
});
await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
process.exit(code);
