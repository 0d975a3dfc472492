import { FlotillaError } from "@flotilla/protocol";
import type { CommandSpec } from "../cli.js";
import { configCommand } from "./config.js";
import { dlqCommand } from "./dlq.js";
import { broadcastCommand, drainCommand, eventsCommand, nodesCommand, undrainCommand } from "./fleet.js";
import { runCommand, submitCommand } from "./run.js";
import { cancelCommand, logsCommand, psCommand, statusCommand } from "./tasks.js";

/**
 * `flotilla demo` is reserved: it will start a local coordinator and agents and show a task being
 * rerouted. Until it is wired, it says so instead of being an unknown command.
 */
export const demoCommand: CommandSpec = {
  name: "demo",
  summary: "run a local fleet and show work being rerouted (not wired in this build yet)",
  usage: "flotilla demo",
  options: {},
  args: { min: 0, max: Number.POSITIVE_INFINITY },
  examples: ["flotilla demo"],
  async run() {
    throw new FlotillaError(
      "E_UNKNOWN_COMMAND",
      "the demo is not available in this build yet — use `pnpm demo` from a checkout of the repository",
    );
  },
};

/** Every command, in the order `flotilla --help` lists them. */
export const COMMANDS: readonly CommandSpec[] = [
  runCommand,
  submitCommand,
  statusCommand,
  psCommand,
  logsCommand,
  cancelCommand,
  nodesCommand,
  drainCommand,
  undrainCommand,
  broadcastCommand,
  eventsCommand,
  dlqCommand,
  configCommand,
  demoCommand,
];
