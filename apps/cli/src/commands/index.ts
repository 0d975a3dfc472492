import type { CommandSpec } from "../cli.js";
import { alertsCommand } from "./alerts.js";
import { configCommand } from "./config.js";
import { demoCommand } from "./demo.js";
import { dlqCommand } from "./dlq.js";
import { broadcastCommand, drainCommand, eventsCommand, nodesCommand, undrainCommand } from "./fleet.js";
import { runCommand, submitCommand } from "./run.js";
import { cancelCommand, logsCommand, psCommand, statusCommand } from "./tasks.js";

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
  alertsCommand,
  dlqCommand,
  configCommand,
  demoCommand,
];
