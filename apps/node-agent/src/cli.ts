import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  configFileValues,
  type EnvironmentSettings,
  type FlagValues,
  FlotillaError,
  isFlotillaError,
  layerSettings,
  parseCoordinatorUrls,
  readCaFile,
} from "@flotilla/protocol";
import {
  type ProgramServiceIo,
  RotatingFile,
  SERVICE_FLAG_NAMES,
  SERVICE_FLAGS,
  SERVICE_USAGE,
  serviceAction,
} from "@flotilla/service";
import { type Logger, pino } from "pino";
import { type Agent, type AgentOptions, createAgent } from "./agent.js";
import { type AgentServiceSettings, runAgentService } from "./service.js";
import { chooseHelper, type HelperChoice } from "./spawn/choice.js";
import { programsPresent } from "./spawn/programs.js";
import { selfTestHelper } from "./spawn/self-test.js";
import { HelperSpawner, inlineSpawner, nativeHelperPath } from "./spawner.js";

/** What the CLI touches outside itself; `main.ts` passes the real process, tests pass fakes. */
export interface CliIo extends ProgramServiceIo {
  /** Writes one line about a failure (stderr). `out` writes one line for people (stdout). */
  err: (line: string) => void;
  /** Registers a handler for SIGTERM and SIGINT (default: none, for tests). */
  onStopSignal?: (handler: () => void) => void;
  makeAgent?: (options: AgentOptions) => Agent;
  logger?: Logger;
}

/** The usage text of `flotilla-agent --help`. */
export const USAGE = `Usage: flotilla-agent --coordinator ws://host:port --token <t> [options]
       flotilla-agent service install|uninstall|status|logs [--dry-run] [options]

Connects this machine to a Flotilla coordinator and runs the tasks it is given.

Options:
  --coordinator <url>       coordinator address, ws://host:port      (env FLOTILLA_COORDINATOR or FLOTILLA_URL)
                            several, comma-separated: tried in turn (active and standbys)
  --token <t>               shared secret for the coordinator         (env FLOTILLA_TOKEN)
  --token-file <path>       read the token from a file instead
  --ca <path>               the private CA of a wss:// coordinator (PEM)  (env FLOTILLA_CA)
  --id <name>               node id (default: the hostname)           (env FLOTILLA_NODE_ID)
  --label k=v               a label; repeatable. k=true also becomes a capability (heavy=true, docker=true)
  --slots <n>               tasks run at once (default: CPU cores)
  --prefetch <n>            assignments it may hold beyond the slots for tiny tasks, 0 = none (default 256)
  --heartbeat-ms <n>        heartbeat period until the coordinator sets one (default 1000)
  --connect-timeout-ms <n>  give up starting when the coordinator cannot be reached (default 10000)
  --config <path>           read settings from a JSON file            (env FLOTILLA_CONFIG)
  --spawn-helper <h>        how commands are started: native | node | a helper's path  (env FLOTILLA_SPAWN_HELPER)
                            (default: native where the package built it and it passes its self-test)
  --log-file <path>         log there, rotated at 10 MB with 5 kept, instead of to stderr
  -h, --help                show this help

Each setting is taken from its flag, else its environment variable, else the config file, else its
default. The config file is one JSON object keyed by flag name, e.g.
  { "coordinator": "ws://build-box.local:7420", "token-file": "token", "id": "mac-mini",
    "label": { "gpu": "true" }, "slots": 8 }
A relative token-file or ca there is read from the config file's directory.

Commands:
${SERVICE_USAGE}

Example:
  flotilla-agent --coordinator ws://build-box.local:7420 --token-file ~/.flotilla/token --id mac-mini --label gpu=true
`;

/** Runtime settings resolved from flags, environment and config file. */
interface AgentSettings {
  /** The config file read, as an absolute path. */
  configFile: string | undefined;
  /** Flags whose value came from the config file alone (a service reads them from there again). */
  fromFile: ReadonlySet<string>;
  coordinatorUrl: string;
  token: string;
  tokenFile: string | undefined;
  /** The CA file, as an absolute path, and its PEM text. */
  caFile: string | undefined;
  ca: string | undefined;
  id: string | undefined;
  labels: Record<string, string>;
  slots: number | undefined;
  prefetch: number | undefined;
  heartbeatIntervalMs: number | undefined;
  connectTimeoutMs: number | undefined;
  /** `native`, `node` or a helper's path; undefined for the default. */
  spawnHelper: string | undefined;
  logFile: string | undefined;
}

const OPTIONS = {
  coordinator: { type: "string" },
  token: { type: "string" },
  "token-file": { type: "string" },
  ca: { type: "string" },
  id: { type: "string" },
  label: { type: "string", multiple: true },
  slots: { type: "string" },
  prefetch: { type: "string" },
  "heartbeat-ms": { type: "string" },
  "connect-timeout-ms": { type: "string" },
  "spawn-helper": { type: "string" },
  "log-file": { type: "string" },
  ...SERVICE_FLAGS,
  config: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * Settings an environment variable gives: a set variable beats the config file's value for every flag
 * named (the token and its file are one setting), and is beaten by any of those flags.
 */
const ENVIRONMENT: EnvironmentSettings = [
  ["FLOTILLA_COORDINATOR", ["coordinator"]],
  ["FLOTILLA_URL", ["coordinator"]],
  ["FLOTILLA_TOKEN", ["token", "token-file"]],
  ["FLOTILLA_NODE_ID", ["id"]],
  ["FLOTILLA_CA", ["ca"]],
  ["FLOTILLA_SPAWN_HELPER", ["spawn-helper"]],
];

/**
 * Flags over environment over the config file (`--config` or `FLOTILLA_CONFIG`, if any): the values to
 * read settings from, the file's absolute path, and which settings came from the file.
 */
async function withConfigFile(
  flags: FlagValues,
  env: Record<string, string | undefined>,
): Promise<{ path: string | undefined; values: FlagValues; fromFile: string[] }> {
  const given = (flags.config as string | undefined) ?? env.FLOTILLA_CONFIG;
  if (given === undefined || given === "") return { path: undefined, values: flags, fromFile: [] };
  const path = resolve(given);
  const text = await readFile(path, "utf8").catch((error: NodeJS.ErrnoException) => {
    throw new FlotillaError("E_CONFIG", `cannot read config file ${path}: ${error.code ?? error.message}`);
  });
  const file = configFileValues(text, path, OPTIONS, ["help", "config", "log-file", ...SERVICE_FLAG_NAMES]);
  for (const name of ["token-file", "ca"]) {
    const value = file[name];
    if (typeof value === "string") file[name] = resolve(dirname(path), value);
  }
  return { path, ...layerSettings(flags, file, env, ENVIRONMENT) };
}

function positiveInt(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new FlotillaError("E_CONFIG", `--${flag} must be a whole number >= 1`);
  return n;
}

function prefetchCount(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 1024)
    throw new FlotillaError("E_CONFIG", "--prefetch must be a whole number from 0 to 1024");
  return n;
}

async function resolveSettings(flags: ReturnType<typeof parse>["values"], io: CliIo): Promise<AgentSettings> {
  const layered = await withConfigFile(flags, io.env);
  const values = layered.values as ReturnType<typeof parse>["values"];
  const coordinatorUrl = values.coordinator ?? io.env.FLOTILLA_COORDINATOR ?? io.env.FLOTILLA_URL;
  if (coordinatorUrl === undefined || coordinatorUrl === "") {
    throw new FlotillaError("E_CONFIG", "no coordinator given: pass --coordinator ws://host:port");
  }
  // Checked here so a bad address stops the start with exit 2 before anything connects.
  parseCoordinatorUrls(coordinatorUrl);
  const tokenFile = values["token-file"] === undefined ? undefined : resolve(values["token-file"]);
  let token = values.token ?? io.env.FLOTILLA_TOKEN;
  if (tokenFile !== undefined) {
    token = await readFile(tokenFile, "utf8").then(
      (text) => text.trim(),
      () => {
        throw new FlotillaError("E_CONFIG", `cannot read token file ${tokenFile}`);
      },
    );
  }
  if (token === undefined || token === "") {
    throw new FlotillaError("E_CONFIG", "no token given: pass --token, --token-file or set FLOTILLA_TOKEN");
  }
  const caGiven = values.ca ?? io.env.FLOTILLA_CA;
  const caFile = caGiven === undefined || caGiven === "" ? undefined : resolve(caGiven);
  const ca = caFile === undefined ? undefined : await readCaFile(caFile);
  const labels: Record<string, string> = {};
  for (const label of values.label ?? []) {
    const eq = label.indexOf("=");
    if (eq <= 0) throw new FlotillaError("E_CONFIG", `--label must look like key=value, got ${label}`);
    labels[label.slice(0, eq)] = label.slice(eq + 1);
  }
  return {
    configFile: layered.path,
    fromFile: new Set(layered.fromFile),
    coordinatorUrl,
    token,
    tokenFile,
    caFile,
    ca,
    id: values.id ?? io.env.FLOTILLA_NODE_ID,
    labels,
    slots: positiveInt("slots", values.slots),
    prefetch: prefetchCount(values.prefetch),
    heartbeatIntervalMs: positiveInt("heartbeat-ms", values["heartbeat-ms"]),
    connectTimeoutMs: positiveInt("connect-timeout-ms", values["connect-timeout-ms"]),
    spawnHelper: values["spawn-helper"] ?? nonEmpty(io.env.FLOTILLA_SPAWN_HELPER),
    logFile: values["log-file"] === undefined ? undefined : resolve(values["log-file"]),
  };
}

const nonEmpty = (value: string | undefined): string | undefined => (value === "" ? undefined : value);

function parse(argv: string[]) {
  return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
}

/**
 * The flags a service is started with: the settings again, minus the token unless it is in a file. With
 * a config file, the service reads it too, and the settings that came from it alone are left to it (so
 * an edit of the file takes effect at the next restart).
 */
function serviceArgs(settings: AgentSettings): string[] {
  const args: string[] = [];
  const add = (flag: string, value: string | number | undefined): void => {
    if (value !== undefined && !settings.fromFile.has(flag)) args.push(`--${flag}`, String(value));
  };
  if (settings.configFile !== undefined) args.push("--config", settings.configFile);
  add("coordinator", settings.coordinatorUrl);
  add("token-file", settings.tokenFile);
  add("ca", settings.caFile);
  add("id", settings.id);
  if (!settings.fromFile.has("label"))
    for (const [k, v] of Object.entries(settings.labels)) args.push("--label", `${k}=${v}`);
  add("slots", settings.slots);
  add("prefetch", settings.prefetch);
  add("heartbeat-ms", settings.heartbeatIntervalMs);
  return args;
}

/** What the service bakes in besides flags: the token (when not in a file) and the spawn helper chosen. */
async function serviceSettings(settings: AgentSettings): Promise<AgentServiceSettings> {
  const env: Record<string, string> = {};
  if (settings.tokenFile === undefined && !settings.fromFile.has("token"))
    env.FLOTILLA_TOKEN = settings.token;
  if (settings.spawnHelper !== undefined && !settings.fromFile.has("spawn-helper"))
    env.FLOTILLA_SPAWN_HELPER = settings.spawnHelper;
  const spawnNote = (await helperChoice(settings.spawnHelper)).note;
  return { args: serviceArgs(settings), env, spawnNote };
}

/** The helper the agent would use with this setting, self-tested, and the line that says so. */
function helperChoice(chosen: string | undefined): Promise<HelperChoice> {
  return chooseHelper(chosen, nativeHelperPath({ FLOTILLA_SPAWN_HELPER: chosen }), selfTestHelper);
}

function describeFailure(error: FlotillaError, settings: AgentSettings | undefined): string {
  const where = settings?.coordinatorUrl ?? "the coordinator";
  switch (error.code) {
    case "E_UNAUTHORIZED":
      return `token rejected by coordinator at ${where}: check --token, --token-file or FLOTILLA_TOKEN`;
    case "E_COORDINATOR_UNAVAILABLE":
      return `cannot reach coordinator at ${where}: is it running and is the address right?`;
    default:
      return error.message;
  }
}

/** "linux, x64, heavy, docker, gpu": the deciding capabilities first, in the order people say them. */
function capabilitySummary(agent: Agent): string {
  const first = ["macos", "linux", agent.fingerprint?.arch ?? "", "heavy", "light", "docker"];
  const caps = agent.capabilities;
  return [...first.filter((c) => caps.includes(c)), ...caps.filter((c) => !first.includes(c))].join(", ");
}

/**
 * Runs the agent command line and resolves with the exit code. Every failure is one line on stderr
 * starting with `flotilla-agent:`; no stack traces for things a user can fix.
 */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    io.err(`flotilla-agent: ${error instanceof Error ? error.message : String(error)} (see --help)`);
    return 2;
  }
  if (parsed.values.help) {
    io.out(USAGE);
    return 0;
  }
  let settings: AgentSettings | undefined;
  try {
    const words = parsed.positionals;
    const action = serviceAction(words);
    if (action === undefined && words.length > 0) {
      io.err(`flotilla-agent: unknown command ${words.join(" ")} (see --help)`);
      return 2;
    }
    if (action !== undefined) {
      const resolved = async () => {
        settings = await resolveSettings(parsed.values, io);
        return serviceSettings(settings);
      };
      return await runAgentService(action, parsed.values, resolved, io);
    }
    settings = await resolveSettings(parsed.values, io);
    return await runAgent(settings, io);
  } catch (error) {
    const failure = isFlotillaError(error) ? error : new FlotillaError("E_INTERNAL", String(error));
    io.err(`flotilla-agent: ${describeFailure(failure, settings)}`);
    return failure.code === "E_CONFIG" ? 2 : 1;
  }
}

async function runAgent(settings: AgentSettings, io: CliIo): Promise<number> {
  let settle!: (code: number) => void;
  const exited = new Promise<number>((resolve) => {
    settle = resolve;
  });
  const options: AgentOptions = {
    coordinatorUrl: settings.coordinatorUrl,
    token: settings.token,
    labels: settings.labels,
    ...(settings.ca === undefined ? {} : { ca: settings.ca }),
    onFatal: (error) => {
      io.err(`flotilla-agent: ${describeFailure(error, settings)}`);
      settle(1);
    },
  };
  if (settings.id !== undefined) options.id = settings.id;
  if (settings.slots !== undefined) options.slots = settings.slots;
  if (settings.prefetch !== undefined) options.prefetch = settings.prefetch;
  if (settings.heartbeatIntervalMs !== undefined) options.heartbeatIntervalMs = settings.heartbeatIntervalMs;
  if (settings.connectTimeoutMs !== undefined) options.connectTimeoutMs = settings.connectTimeoutMs;
  const logger =
    io.logger ??
    pino(
      { name: "flotilla-agent" },
      settings.logFile === undefined ? pino.destination(2) : new RotatingFile(settings.logFile),
    );
  options.logger = logger;
  const helper = await helperChoice(settings.spawnHelper);
  logger.info({ spawnHelper: helper.nativeHelper === false ? "node" : helper.nativeHelper }, helper.note);
  options.spawner = new HelperSpawner({
    nativeHelper: helper.nativeHelper,
    ...(programsPresent() ? {} : { nodeHelper: false, fallback: inlineSpawner }),
  });
  const agent = (io.makeAgent ?? createAgent)(options);

  let signals = 0;
  io.onStopSignal?.(() => {
    signals++;
    if (signals === 1) {
      io.err(`flotilla-agent: stopping: letting running tasks finish (signal again to cancel them now)`);
      void agent.stop().then(() => settle(0));
    } else {
      void agent.stop({ now: true });
    }
  });

  try {
    await agent.start();
  } catch (error) {
    // A signal during start stops the agent before its welcome: that is a clean exit, not a failure.
    if (signals > 0) return exited;
    throw error;
  }
  const slots = agent.slots;
  io.out(
    `flotilla-agent ${agent.id} ready: connected to ${settings.coordinatorUrl} (${slots} slot${slots === 1 ? "" : "s"}; ${capabilitySummary(agent)})`,
  );
  return exited;
}
