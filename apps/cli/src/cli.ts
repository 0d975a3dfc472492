import { parseArgs } from "node:util";
import { type ConnectOptions, connect, type FlotillaClient } from "@flotilla/client";
import { FlotillaError, readCaFile } from "@flotilla/protocol";
import type { CommandRunner } from "@flotilla/service";
import { COMMANDS } from "./commands/index.js";
import { parseDuration } from "./duration.js";
import { EXIT, exitCodeForError, formatError } from "./exit-codes.js";
import { resolveSettings, type Settings } from "./settings.js";

/** Where the CLI writes: `process.stdout`/`stderr` in the real binary, string sinks in tests. */
export interface OutputStream {
  write(text: string): unknown;
  /** Whether this is a terminal (progress lines are drawn only on terminals). */
  isTTY?: boolean;
}

/** Everything the CLI touches outside itself, so tests need no process tricks. */
export interface CliIo {
  stdout: OutputStream;
  stderr: OutputStream;
  env: Readonly<Record<string, string | undefined>>;
  /** For `~/.config/flotilla/config.json`. */
  homedir: string;
  /** Reads a file or returns undefined when it does not exist (default: the real file system). */
  readFile?: (path: string) => string | undefined;
  /** Calls `handler` on Ctrl-C (SIGINT); returns a function that stops listening. */
  onInterrupt?: (handler: () => void) => () => void;
  /** Opens a client session (default: `connect` from @flotilla/client). */
  connect?: (options: ConnectOptions) => Promise<FlotillaClient>;
  /** The clock (default `Date.now`). */
  now?: () => number;
  /** For `doctor`: runs docker, launchctl, systemctl (default: the real commands). */
  run?: CommandRunner;
  /** For `doctor`: the platform whose service manager to ask (default `process.platform`). */
  platform?: NodeJS.Platform;
  /** Reads `submit --file`'s file, `-` being standard input (default: the real file and stdin). */
  readInput?: (path: string) => Promise<string>;
}

/** One option of a command. */
export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
  /** Placeholder in help, e.g. `k=v`. */
  value?: string;
  description: string;
}

/** What a command gets when it runs. */
export interface CommandContext {
  readonly io: CliIo;
  readonly values: Readonly<Record<string, string | boolean | string[] | undefined>>;
  readonly args: readonly string[];
  /** `--json` was given. */
  readonly json: boolean;
  settings(): Settings;
  /** The session with the coordinator, opened on first use (with `identity`'s connect options when given). */
  client(identity?: Pick<ConnectOptions, "clientId" | "agent" | "capabilities">): Promise<FlotillaClient>;
  out(text: string): void;
  err(text: string): void;
  now(): number;
  /** Runs `handler` on Ctrl-C until the returned function is called. */
  onInterrupt(handler: () => void): () => void;
}

/** A `flotilla` command: its help and its action. */
export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  /** One or more example lines for `--help`. */
  examples: string[];
  /** More help text, printed after the options. */
  details?: string;
  options: Record<string, OptionSpec>;
  /** Allowed number of positional arguments. */
  args: { min: number; max: number };
  /** Everything after `--` is the remote command (run, submit). */
  command?: boolean;
  run(context: CommandContext): Promise<number>;
}

const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  url: {
    type: "string",
    value: "URL[,URL…]",
    description:
      "coordinator URL, or several comma-separated (env FLOTILLA_URL; default ws://127.0.0.1:7420)",
  },
  token: { type: "string", value: "TOKEN", description: "bearer token (env FLOTILLA_TOKEN)" },
  ca: {
    type: "string",
    value: "FILE",
    description: "private CA of a wss:// coordinator, PEM (env FLOTILLA_CA; flotilla-coordinator init-tls)",
  },
  help: { type: "boolean", short: "h", description: "show this help" },
};

/** The installed version, reported by `flotilla --version`. */
export const VERSION = "0.1.0";

/**
 * Runs the `flotilla` command line and resolves with the exit code. Nothing here calls `process.exit`:
 * the binary does, after flushing its output.
 */
export async function runMain(argv: readonly string[], io: CliIo): Promise<number> {
  const cleanups: (() => void)[] = [];
  try {
    const { globals, rest } = splitGlobals(argv);
    const name = rest[0];
    if (globals.version) {
      io.stdout.write(`flotilla ${VERSION}\n`);
      return EXIT.OK;
    }
    if (name === undefined || name === "help") {
      const topic = rest[1];
      const command =
        topic === undefined ? undefined : COMMANDS.find((candidate) => candidate.name === topic);
      io.stdout.write(command ? commandHelp(command) : mainHelp());
      if (name === undefined && !globals.help) return EXIT.USAGE;
      return EXIT.OK;
    }
    const command = COMMANDS.find((candidate) => candidate.name === name);
    if (!command) {
      throw new FlotillaError(
        "E_UNKNOWN_COMMAND",
        `unknown command "${name}" — run \`flotilla --help\` for the list of commands`,
      );
    }
    const { values, args } = parseCommandArgs(command, rest.slice(1));
    if (values.help === true || globals.help) {
      io.stdout.write(commandHelp(command));
      return EXIT.OK;
    }
    const context = createContext(io, command, values, args, globals, cleanups);
    return await command.run(context);
  } catch (error) {
    io.stderr.write(formatError(error, Boolean(io.env.FLOTILLA_DEBUG)));
    return exitCodeForError(error);
  } finally {
    for (const cleanup of cleanups.reverse()) cleanup();
  }
}

interface Globals {
  url?: string;
  token?: string;
  ca?: string;
  help?: boolean;
  version?: boolean;
}

/** Reads the options that may come before the command name (`flotilla --url X nodes`). */
function splitGlobals(argv: readonly string[]): { globals: Globals; rest: string[] } {
  const globals: Globals = {};
  let index = 0;
  for (; index < argv.length; index++) {
    const token = argv[index] ?? "";
    if (!token.startsWith("-") || token === "--") break;
    const [flag, inline] = token.split(/=(.*)/s, 2) as [string, string | undefined];
    if (flag === "--help" || flag === "-h") globals.help = true;
    else if (flag === "--version" || flag === "-V") globals.version = true;
    else if (flag === "--url" || flag === "--token" || flag === "--ca") {
      const value = inline ?? argv[++index];
      if (value === undefined) throw usage(`${flag} needs a value`, "flotilla --help");
      globals[flag.slice(2) as "url" | "token" | "ca"] = value;
    } else {
      throw usage(`unknown option ${flag}`, "flotilla --help");
    }
  }
  return { globals, rest: argv.slice(index) };
}

function usage(what: string, helpCommand: string): FlotillaError {
  return new FlotillaError("E_UNKNOWN_COMMAND", `${what} — see \`${helpCommand}\``);
}

function parseCommandArgs(
  command: CommandSpec,
  argv: readonly string[],
): { values: Record<string, string | boolean | string[] | undefined>; args: string[] } {
  const options = { ...command.options, ...GLOBAL_OPTIONS };
  const separator = command.command ? argv.indexOf("--") : -1;
  const own = separator === -1 ? argv : argv.slice(0, separator);
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...own], options, allowPositionals: true, strict: true });
  } catch (error) {
    const message = (error as Error).message.replace(/\. To specify a positional argument.*$/s, "");
    const hint = command.command && separator === -1 ? " (put `--` before the remote command)" : "";
    throw usage(`${message}${hint}`, `flotilla ${command.name} --help`);
  }
  const args = separator === -1 ? parsed.positionals : [...parsed.positionals, ...argv.slice(separator + 1)];
  if (parsed.values.help !== true && (args.length < command.args.min || args.length > command.args.max)) {
    throw usage(`usage: ${command.usage}`, `flotilla ${command.name} --help`);
  }
  return { values: parsed.values as Record<string, string | boolean | string[] | undefined>, args };
}

function createContext(
  io: CliIo,
  command: CommandSpec,
  values: Record<string, string | boolean | string[] | undefined>,
  args: string[],
  globals: Globals,
  cleanups: (() => void)[],
): CommandContext {
  let settings: Settings | undefined;
  let client: Promise<FlotillaClient> | undefined;
  const flag = (name: "url" | "token" | "ca") => {
    const value = values[name];
    return typeof value === "string" ? value : globals[name];
  };
  const context: CommandContext = {
    io,
    values,
    args,
    json: values.json === true,
    settings: () => {
      settings ??= resolveSettings({
        flags: { url: flag("url"), token: flag("token"), ca: flag("ca") },
        env: io.env,
        homedir: io.homedir,
        ...(io.readFile ? { readFile: io.readFile } : {}),
      });
      return settings;
    },
    client: (identity) => {
      if (!client) {
        const resolved = context.settings();
        const options: ConnectOptions = {
          url: resolved.url.value ?? "",
          clientId: `cli-${command.name}-${Math.floor(Math.random() * 1e9).toString(36)}`,
          ...identity,
          connectTimeoutMs: connectTimeout(io.env),
          requestTimeoutMs: 15_000,
        };
        if (resolved.token.value !== undefined) options.token = resolved.token.value;
        const caFile = resolved.ca.value;
        client = (caFile === undefined ? Promise.resolve(undefined) : readCaFile(caFile)).then((ca) =>
          (io.connect ?? connect)(ca === undefined ? options : { ...options, ca }),
        );
        client.then(
          (opened) => cleanups.push(() => opened.close()),
          () => {},
        );
      }
      return client;
    },
    out: (text) => io.stdout.write(text),
    err: (text) => io.stderr.write(text),
    now: io.now ?? Date.now,
    onInterrupt: (handler) => {
      const stop = io.onInterrupt?.(handler) ?? (() => {});
      cleanups.push(stop);
      return stop;
    },
  };
  return context;
}

/** How long to wait for the first connection: FLOTILLA_CONNECT_TIMEOUT (a duration) or 5 s. */
function connectTimeout(env: CliIo["env"]): number {
  const text = env.FLOTILLA_CONNECT_TIMEOUT;
  if (text === undefined || text === "") return 5_000;
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) {
    throw new FlotillaError(
      "E_CONFIG",
      `FLOTILLA_CONNECT_TIMEOUT=${text} is not a duration — write it like 2s`,
    );
  }
  return ms;
}

function optionLines(options: Record<string, OptionSpec>): string {
  const rows = Object.entries(options).map(([name, option]) => {
    const short = option.short ? `-${option.short}, ` : "";
    const value = option.type === "string" ? ` ${option.value ?? "VALUE"}` : "";
    const repeat = option.multiple ? " (repeatable)" : "";
    return [`  ${short}--${name}${value}`, `${option.description}${repeat}`] as const;
  });
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `${left.padEnd(width)}  ${right}`).join("\n");
}

/** The `--help` text of one command. */
export function commandHelp(command: CommandSpec): string {
  const parts = [
    `flotilla ${command.name} — ${command.summary}`,
    `Usage: ${command.usage}`,
    `Options:\n${optionLines({ ...command.options, ...GLOBAL_OPTIONS })}`,
  ];
  if (command.details) parts.push(command.details);
  parts.push(
    `Example${command.examples.length > 1 ? "s" : ""}:\n${command.examples.map((line) => `  ${line}`).join("\n")}`,
  );
  return `${parts.join("\n\n")}\n`;
}

/** The `flotilla --help` text. */
export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length));
  const list = COMMANDS.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`).join("\n");
  return `flotilla — run commands on a fleet of machines as if they were one computer

Usage: flotilla [--url URL[,URL…]] [--token TOKEN] [--ca FILE] <command> [options]

Commands:
${list}

Settings: flags, then FLOTILLA_URL / FLOTILLA_TOKEN / FLOTILLA_CA, then $XDG_CONFIG_HOME/flotilla/config.json
(~/.config/flotilla/config.json), then ws://127.0.0.1:7420. \`flotilla config\` shows what is in effect.
With an active coordinator and standbys, give them all, separated by commas (ws://a:7420,ws://b:7420):
each connection tries them in turn, starting with the last one that answered, and passes over a
refused connection, a timeout or a standby's 503. A wss:// coordinator with a private CA (made by
\`flotilla-coordinator init-tls\`) needs --ca ca.crt; its certificate and host name are always checked.

Exit codes: 0 ok, 1 refused by the coordinator, 2 usage or configuration error, 3 coordinator
unreachable, 4 not found, 5 token rejected, 124 remote timeout, 125 task could not run, 130
interrupted or cancelled; \`run\` otherwise exits with the remote exit code (128+n for signal n).

Run \`flotilla <command> --help\` for a command's options and an example.
`;
}
