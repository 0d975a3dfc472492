import { runCli } from "./cli.js";

/** The `flotilla-coordinator` binary: hands argv and the environment to {@link runCli} and exits with its code. */
const code = await runCli(process.argv.slice(2), {
  env: process.env,
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  onStopSignal: (handler) => {
    process.once("SIGTERM", handler);
    process.once("SIGINT", handler);
  },
  onReloadSignal: (handler) => {
    process.on("SIGHUP", handler);
  },
});
process.exit(code);
