import { runCli } from "./cli.js";

/**
 * The `flotilla-agent` binary: reads argv and the environment, hands them to {@link runCli}, exits with
 * its code. Everything else lives in the library so it can be tested without a process.
 */
const code = await runCli(process.argv.slice(2), {
  env: process.env,
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  onStopSignal: (handler) => {
    process.on("SIGTERM", handler);
    process.on("SIGINT", handler);
  },
});
process.exit(code);
