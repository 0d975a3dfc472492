import { hostname, userInfo } from "node:os";
import type { TaskHandle } from "@flotilla/client";
import {
  type ExecTaskSpec,
  FlotillaError,
  isTerminalState,
  PRIORITIES,
  type Priority,
  type TaskSpecInput,
} from "@flotilla/protocol";
import type { CommandContext, CommandSpec, OptionSpec } from "../cli.js";
import { parseDuration } from "../duration.js";
import { EXIT, exitCodeForResult } from "../exit-codes.js";
import { json } from "../format.js";
import { describeWait, Progress } from "../progress.js";
import { submitFile } from "./submit-file.js";

const SPEC_OPTIONS: Record<string, OptionSpec> = {
  needs: {
    type: "string",
    multiple: true,
    value: "k=v",
    description: "required capability or attribute (k alone means k=true)",
  },
  priority: { type: "string", value: "P", description: `one of ${PRIORITIES.join(", ")} (default normal)` },
  deadline: { type: "string", value: "DUR", description: "finish within this long from now, e.g. 5m" },
  timeout: { type: "string", value: "DUR", description: "kill the command after this long, e.g. 10m" },
  node: { type: "string", value: "NAME", description: "run on this node only" },
  retries: { type: "string", value: "N", description: "retry up to N times on node failure (default 0)" },
  cwd: { type: "string", value: "DIR", description: "working directory on the node" },
  env: { type: "string", multiple: true, value: "K=V", description: "environment variable for the command" },
  "secret-env": {
    type: "string",
    multiple: true,
    value: "K=V",
    description:
      "secret environment variable: reads show K=***, output masks it (K alone takes K from this shell)",
  },
  shell: { type: "boolean", description: "run the command line through the node's shell (sh -c)" },
};

/** Reads `k=v` pairs; `k` alone is `true`, numbers stay strings unless they look like numbers. */
function parseNeeds(entries: readonly string[]): Record<string, string | number | boolean> {
  const needs: Record<string, string | number | boolean> = {};
  for (const entry of entries) {
    const [key, value] = entry.split(/=(.*)/s, 2) as [string, string | undefined];
    if (!key)
      throw invalid(
        `--needs ${JSON.stringify(entry)} has no name`,
        "write --needs docker or --needs os=linux",
      );
    if (value === undefined || value === "true") needs[key] = true;
    else if (value === "false") needs[key] = false;
    else if (/^-?\d+(\.\d+)?$/.test(value)) needs[key] = Number(value);
    else needs[key] = value;
  }
  return needs;
}

function parseEnv(entries: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of entries) {
    const [key, value] = entry.split(/=(.*)/s, 2) as [string, string | undefined];
    if (!key || value === undefined)
      throw invalid(`--env ${JSON.stringify(entry)} is not K=V`, "write --env NAME=value");
    env[key] = value;
  }
  return env;
}

/**
 * Reads `--secret-env` entries: `K=V`, or `K` alone for the value of `K` in this shell's environment
 * (which keeps the value off the command line, where `ps` on this machine would show it). Errors
 * never quote the value.
 */
function parseSecretEnv(
  entries: readonly string[],
  localEnv: CommandContext["io"]["env"],
  env: Record<string, string> | undefined,
): Record<string, string> {
  const secrets: Record<string, string> = {};
  for (const entry of entries) {
    const at = entry.indexOf("=");
    const key = at < 0 ? entry : entry.slice(0, at);
    const value = at < 0 ? localEnv[key] : entry.slice(at + 1);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: a NUL would cut the name short in execve.
    if (!key || /\x00/.test(key))
      throw invalid("--secret-env has an entry without a name", "write --secret-env NAME=value");
    if (value === undefined || value === "") {
      throw invalid(
        at < 0 ? `--secret-env ${key}: ${key} is not set here` : `--secret-env ${key} has an empty value`,
        "write --secret-env NAME=value, or export NAME and write --secret-env NAME",
      );
    }
    if (value.includes("\x00"))
      throw invalid(`--secret-env ${key} has a NUL byte in its value`, "give a value without NUL");
    if (env !== undefined && key in env)
      throw invalid(`${key} is given by both --env and --secret-env`, "give it once, with --secret-env");
    secrets[key] = value;
  }
  return secrets;
}

function invalid(what: string, todo: string): FlotillaError {
  return new FlotillaError("E_INVALID_ARGUMENT", `${what} — ${todo}`);
}

function durationOption(context: CommandContext, name: string): number | undefined {
  const text = context.values[name];
  if (typeof text !== "string") return undefined;
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) {
    throw invalid(
      `--${name} ${JSON.stringify(text)} is not a duration`,
      "write it like 500ms, 90s, 5m or 2h",
    );
  }
  return ms;
}

/** Builds the task spec from `run`/`submit` flags and the command after `--`. */
export function specFromFlags(context: CommandContext): TaskSpecInput {
  const values = context.values;
  const argv = [...context.args];
  const spec: ExecTaskSpec | Omit<ExecTaskSpec, "priority"> =
    values.shell === true ? { kind: "exec", shell: argv.join(" ") } : { kind: "exec", argv };
  const result: TaskSpecInput = { ...spec };
  const needs = values.needs;
  if (Array.isArray(needs) && needs.length > 0) result.needs = parseNeeds(needs);
  if (typeof values.priority === "string") {
    if (!(PRIORITIES as readonly string[]).includes(values.priority)) {
      throw invalid(
        `--priority ${JSON.stringify(values.priority)} is not a priority`,
        `use ${PRIORITIES.join(", ")}`,
      );
    }
    result.priority = values.priority as Priority;
  }
  const deadline = durationOption(context, "deadline");
  if (deadline !== undefined) result.deadlineAt = context.now() + deadline;
  const timeout = durationOption(context, "timeout");
  if (timeout !== undefined) result.timeoutMs = timeout;
  if (typeof values.node === "string") result.node = values.node;
  if (typeof values.retries === "string") {
    const retries = Number(values.retries);
    if (!Number.isInteger(retries) || retries < 0 || retries > 99) {
      throw invalid(
        `--retries ${JSON.stringify(values.retries)} is not a count`,
        "give a whole number from 0 to 99",
      );
    }
    result.retry = { maxAttempts: retries + 1 };
  }
  if (typeof values.cwd === "string" && result.kind === "exec") result.cwd = values.cwd;
  const env = values.env;
  if (Array.isArray(env) && env.length > 0 && result.kind === "exec") result.env = parseEnv(env);
  const secretEnv = values["secret-env"];
  if (Array.isArray(secretEnv) && secretEnv.length > 0 && result.kind === "exec")
    result.secretEnv = parseSecretEnv(secretEnv, context.io.env, result.env);
  result.submitter = submitter();
  return result;
}

function submitter(): string {
  try {
    return `${userInfo().username}@${hostname()}`.slice(0, 128);
  } catch {
    return hostname().slice(0, 128);
  }
}

/** How long `run` waits for the remote task to stop after Ctrl-C before giving up on its last output. */
const CANCEL_GRACE_MS = 5_000;

/** Streams a task to the terminal and resolves with the exit code `run` should end with. */
async function follow(context: CommandContext, handle: TaskHandle): Promise<number> {
  const progress = new Progress(context.io.stderr, context.now);
  const updates = handle.updates()[Symbol.asyncIterator]();
  let interrupted = false;
  let graceTimer: NodeJS.Timeout | undefined;
  const stopListening = context.onInterrupt(() => {
    progress.clear();
    if (interrupted) {
      // A second Ctrl-C: stop waiting for the remote side.
      void updates.return?.();
      return;
    }
    interrupted = true;
    context.err(`flotilla: cancelling ${handle.id}… (Ctrl-C again to stop waiting)\n`);
    handle.cancel("interrupted (Ctrl-C)").catch(() => {});
    graceTimer = setTimeout(() => void updates.return?.(), CANCEL_GRACE_MS);
  });
  try {
    for (let next = await updates.next(); !next.done; next = await updates.next()) {
      const update = next.value;
      if (update.kind === "output") {
        progress.clear();
        (update.chunk.stream === "stderr" ? context.io.stderr : context.io.stdout).write(update.chunk.data);
        continue;
      }
      if (isTerminalState(update.event.state)) break;
      const wait = describeWait(update.event);
      if (wait === undefined) progress.clear();
      else progress.show(wait);
    }
  } finally {
    clearTimeout(graceTimer);
    progress.clear();
    stopListening();
    await updates.return?.();
  }
  if (interrupted) return EXIT.INTERRUPTED;
  // The outcome the coordinator pushed for the submit (task.done); a watch and a lookup after a reconnect.
  const result = await handle.result();
  if (result.state !== "succeeded" && result.state !== "failed") {
    const why = result.error ? `: ${result.error.message}` : "";
    context.err(`flotilla: task ${handle.id} ${result.state.replace("_", " ")}${why}\n`);
  } else if (result.exitCode === null && result.signal === null && result.error) {
    context.err(`flotilla: task ${handle.id} failed: ${result.error.message}\n`);
  }
  return exitCodeForResult(result);
}

/**
 * Submits the task the flags describe. `wait` asks the coordinator to push the outcome when the task ends,
 * which only a command that stays for the result wants; fire-and-forget leaves it off.
 */
async function submitFromFlags(context: CommandContext, wait: boolean): Promise<TaskHandle> {
  const spec = specFromFlags(context);
  const client = await context.client();
  return await client.submit(spec, { wait });
}

/** `flotilla run`. */
export const runCommand: CommandSpec = {
  name: "run",
  summary: "run a command on the fleet, streaming its output, and exit with its exit code",
  usage: "flotilla run [options] -- CMD [ARGS...]",
  options: {
    ...SPEC_OPTIONS,
    detach: { type: "boolean", short: "d", description: "print the task id and return" },
  },
  args: { min: 1, max: Number.POSITIVE_INFINITY },
  command: true,
  details: `Remote stdout goes to stdout and stderr to stderr, in order. Ctrl-C cancels the remote task (its
whole process group) and exits 130. While the task waits for a node, a progress line on stderr says why.`,
  examples: [
    "flotilla run -- make -j8",
    "flotilla run --needs docker --timeout 20m -- docker build -t app .",
    "flotilla run --priority high --env CI=1 --cwd ~/src/app -- npm test",
  ],
  async run(context) {
    // Ctrl-C while the submit is in flight: the task may exist already, so cancel it once it does.
    let interruptedEarly = false;
    const stopEarly = context.onInterrupt(() => {
      interruptedEarly = true;
    });
    let handle: TaskHandle;
    try {
      handle = await submitFromFlags(context, context.values.detach !== true);
    } finally {
      stopEarly();
    }
    if (interruptedEarly) {
      await handle.cancel("interrupted (Ctrl-C)").catch(() => {});
      context.err(`flotilla: cancelled ${handle.id}\n`);
      return EXIT.INTERRUPTED;
    }
    if (context.values.detach === true) {
      context.out(`${handle.id}\n`);
      return EXIT.OK;
    }
    return await follow(context, handle);
  },
};

/** `flotilla submit`. */
export const submitCommand: CommandSpec = {
  name: "submit",
  summary: "queue a command and print its task id (like run --detach), or many from a file",
  usage:
    "flotilla submit [options] [--json] -- CMD [ARGS...]  |  flotilla submit --file FILE [--all-or-nothing]",
  options: {
    ...SPEC_OPTIONS,
    json: { type: "boolean", description: "print {taskId, duplicate} as JSON" },
    file: {
      type: "string",
      value: "FILE",
      description: "submit one task spec (JSON) per line of FILE, - for stdin, in batches of up to 1000",
    },
    "all-or-nothing": { type: "boolean", description: "with --file: one bad line and no task is submitted" },
  },
  args: { min: 0, max: Number.POSITIVE_INFINITY },
  command: true,
  details: `With --file, each line is checked on its own: a bad one is reported with its line number on stderr
and the others are submitted (exit 1), unless --all-or-nothing (then none, exit 2). Blank lines and lines
starting with # are skipped. The task ids are printed one per line, in the file's order.`,
  examples: [
    "flotilla submit --needs heavy -- cargo build --release",
    "id=$(flotilla submit -- ./nightly.sh)",
    "flotilla submit --file jobs.jsonl --all-or-nothing",
    `seq 100 | sed 's/.*/{"kind":"exec","argv":["echo","&"]}/' | flotilla submit --file -`,
  ],
  async run(context) {
    const file = context.values.file;
    if (typeof file === "string") {
      if (context.args.length > 0)
        throw invalid("--file and a command exclude each other", "give one of them");
      return await submitFile(context, file);
    }
    if (context.values["all-or-nothing"] === true)
      throw invalid("--all-or-nothing goes with --file", "add --file FILE");
    if (context.args.length === 0) throw invalid("nothing to submit", "give -- CMD [ARGS...] or --file FILE");
    const handle = await submitFromFlags(context, false);
    context.out(context.json ? json({ taskId: handle.id, duplicate: handle.duplicate }) : `${handle.id}\n`);
    return EXIT.OK;
  },
};
