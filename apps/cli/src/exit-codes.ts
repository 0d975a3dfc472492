import { constants } from "node:os";
import type { TaskResult } from "@flotilla/client";
import { type ErrorCode, isFlotillaError } from "@flotilla/protocol";

/** The exit codes of `flotilla`; `run` also exits with the remote command's own code. */
export const EXIT = {
  /** Success. */
  OK: 0,
  /** The coordinator refused the request (conflict, invalid state, …). */
  FAILED: 1,
  /** Bad usage or configuration: unknown command or option, bad value, broken config file. */
  USAGE: 2,
  /** The coordinator cannot be reached or did not answer in time. */
  UNREACHABLE: 3,
  /** The task, node or entry does not exist. */
  NOT_FOUND: 4,
  /** The coordinator rejected the token. */
  UNAUTHORIZED: 5,
  /** The remote task ran past its timeout. */
  TIMED_OUT: 124,
  /** The task could not run: no capable node, spawn failure, dead-lettered, expired. */
  NOT_RUN: 125,
  /** Interrupted (Ctrl-C), or the task was cancelled. */
  INTERRUPTED: 130,
} as const;

const BY_CODE: Partial<Record<ErrorCode, number>> = {
  E_UNKNOWN_COMMAND: EXIT.USAGE,
  E_INVALID_ARGUMENT: EXIT.USAGE,
  E_CONFIG: EXIT.USAGE,
  E_SCHEMA: EXIT.USAGE,
  E_COORDINATOR_UNAVAILABLE: EXIT.UNREACHABLE,
  E_NOT_FOUND: EXIT.NOT_FOUND,
  E_UNAUTHORIZED: EXIT.UNAUTHORIZED,
  E_NODE_UNAVAILABLE: EXIT.NOT_RUN,
  E_ADMISSION: EXIT.NOT_RUN,
  E_SPAWN: EXIT.NOT_RUN,
};

/** What to do about an error the coordinator returned, when its message does not say. */
const HINTS: Partial<Record<ErrorCode, string>> = {
  E_NOT_FOUND: "check the id with `flotilla ps` or `flotilla nodes`",
  E_CONFLICT: "check its state with `flotilla status`",
  E_NODE_UNAVAILABLE: "see `flotilla nodes` for what the fleet offers, or relax --needs",
  E_ADMISSION: "give it a later --deadline",
  E_DRAINING: "try again later or pick another --node",
  E_QUEUE_FULL: "try again in a moment",
  E_SCHEMA: "see `flotilla <command> --help`",
  E_INVALID_ARGUMENT: "see `flotilla <command> --help`",
};

/** The exit code for an error that ended a command. */
export function exitCodeForError(error: unknown): number {
  if (!isFlotillaError(error)) return EXIT.FAILED;
  return BY_CODE[error.code] ?? EXIT.FAILED;
}

/**
 * One line for the user: "flotilla: <what went wrong> — <what to do>". Errors that are not ours are bugs and
 * keep their stack when FLOTILLA_DEBUG is set.
 */
export function formatError(error: unknown, debug = false): string {
  if (isFlotillaError(error)) {
    const hint = HINTS[error.code];
    const text =
      error.message.includes(" — ") || hint === undefined ? error.message : `${error.message} — ${hint}`;
    return `flotilla: ${text}\n`;
  }
  const message = error instanceof Error ? error.message : String(error);
  const stack = debug && error instanceof Error && error.stack ? `\n${error.stack}` : "";
  return `flotilla: internal error: ${message} — please report it (set FLOTILLA_DEBUG=1 for details)${stack}\n`;
}

/**
 * The exit code `run` passes on: the remote exit code, 128+n for signal n (as a shell does), 124 for a
 * timeout, 130 when cancelled, 125 when the task never got to run.
 */
export function exitCodeForResult(result: TaskResult): number {
  // The state comes first: a timed-out or cancelled task also died of a signal, but that is not the news.
  if (result.state === "succeeded") return result.exitCode ?? EXIT.OK;
  if (result.state === "timed_out") return EXIT.TIMED_OUT;
  if (result.state === "cancelled") return EXIT.INTERRUPTED;
  if (result.state !== "failed") return EXIT.NOT_RUN;
  if (result.signal !== null) {
    const number = (constants.signals as Record<string, number | undefined>)[result.signal];
    if (number !== undefined) return 128 + number;
  }
  return result.exitCode ?? EXIT.NOT_RUN;
}
