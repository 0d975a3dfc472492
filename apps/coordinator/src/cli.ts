import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  configFileValues,
  type EnvironmentSettings,
  type FlagValues,
  isFlotillaError,
  layerSettings,
  redactUrl,
} from "@flotilla/protocol";
import { STRATEGY_NAMES } from "@flotilla/scheduler";
import { type Logger, pino } from "pino";
import { ALERT_FLAGS, ALERT_USAGE, alertOptions } from "./alert-flags.js";
import { type Coordinator, createCoordinator } from "./coordinator.js";
import { runInitTls } from "./init-tls.js";
import type { CoordinatorOptions } from "./options.js";
import type { RedisConnectionSettings } from "./redis-connection.js";
import { defaultSecretKeyFile } from "./secrets.js";
import { readTokensFile, runTokenCommand } from "./tokens-file.js";

/** What the CLI touches outside itself; `main.ts` passes the real process, tests pass fakes. */
export interface CliIo {
  env: Record<string, string | undefined>;
  out: (line: string) => void;
  err: (line: string) => void;
  /** Registers a handler for SIGTERM/SIGINT (none in tests). */
  onStopSignal?: (handler: () => void) => void;
  /** Registers a handler for SIGHUP: reload the TLS certificate and key (none in tests). */
  onReloadSignal?: (handler: () => void) => void;
  logger?: Logger;
  /** Resolves when the coordinator should stop (tests); by default the stop signal decides. */
  makeCoordinator?: (options: CoordinatorOptions) => Coordinator;
}

/** The usage text of `flotilla-coordinator --help`. */
export const USAGE = `Usage: flotilla-coordinator --redis <url> --token <t> [options]
       flotilla-coordinator init-tls --names <name,...> [--out <dir>]   (see init-tls --help)
       flotilla-coordinator token add --scope <scope> --name <name> [--tokens-file <path>]

Runs the coordinator of a Flotilla fleet: agents and clients connect to it over WebSocket; all state is in Redis.

Options:
  --redis <url>             Redis holding the fleet's state          (env FLOTILLA_REDIS_URL, default redis://127.0.0.1:6379)
  --redis-ca <file>         CA certificate (PEM) that signed a rediss:// server's certificate
  --redis-cert <file>       client certificate (PEM), for a Redis run with tls-auth-clients yes
  --redis-key <file>        the client certificate's private key (PEM)
  --redis-user <name>       Redis ACL user (beats the URL's user)
  --redis-password-file <file>  read the Redis user's password from a file (beats the URL's password)
  --port <n>                port to listen on                        (env FLOTILLA_PORT, default 7420)
  --host <addr>             interface to listen on (default 0.0.0.0 with TLS or --insecure-listen, else 127.0.0.1)
  --tls-cert <path>         serve https:// and wss:// with this certificate (PEM; reloaded on SIGHUP)
  --tls-key <path>          the certificate's private key (PEM)
  --insecure-listen         listen beyond 127.0.0.1 without TLS (the token then crosses the network in clear text)
  --token <t>               fleet token for agents and clients       (env FLOTILLA_TOKEN)
  --token-file <path>       read the fleet token from a file instead
  --node-token id=token     a token only node <id> may use (scope agent:<id>); repeatable
  --tokens-file <path>      scoped tokens (made by "token add")      (env FLOTILLA_TOKENS_FILE)
  --secret-key-file <path>  key encrypting tasks' secret env in Redis; made (0600) if missing; every
                            coordinator of the fleet needs the same file (default secret.key beside
                            --token-file, else ~/.flotilla/secret.key)
  --prefix <p>              Redis key prefix, so two fleets can share one Redis
  --heartbeat-ms <n>        agent heartbeat period (default 1000; existing bridges use 30000)
  --dead-after-ms <n>       an agent silent this long is dead (default 4500; existing bridges use 90000)
  --strategy <name>         ${STRATEGY_NAMES.join(" | ")} (default least_loaded)
  --load-threshold <x>      avoid nodes whose 1-minute load is at or above this (default 3.0)
  --fallback-node <id>      the coordinator's own node, used when every node is over the threshold
  --hold-ahead-ms <n>       work per slot agents are leased ahead of their slots, by run time (default 10; 0 = none)
  --require-durable         refuse to start when Redis can lose data (no appendonly, an evicting maxmemory-policy)
  --retention-days <x>      finished tasks are forgotten this long after they end (default 7)
  --retention-max-finished <n>  finished tasks kept at most; the oldest go first (default 100000)
  --dead-letter-retention-days <x>  dead-lettered tasks are forgotten after this unless purged (default 30)
  --max-output-bytes <n>    output bytes kept per task; the rest is cut with a marker (default 16777216)
  --max-waiting <n>         tasks the waiting list holds; beyond, submits get E_QUEUE_FULL (default 10000)
  --max-frames-per-second <n>   frames one connection may send a second (default 100000; 0 = no limit)
  --max-submits-per-second <n>  tasks one token may submit a second (default 50000; 0 = no limit)
  --max-connections-per-token <n>  connections open at once with one token (default 1000; 0 = no limit)
  --max-watches <n>         tasks one connection may watch at once (default 10000; 0 = no limit)
  --max-buffered-bytes <n>  unsent bytes a connection may hold before it is closed (default 67108864; 0 = no limit)
  --metrics-public          serve GET /metrics without a bearer token
  --log-level <level>       fatal | error | warn | info | debug (default info)
  --config <path>           read settings from a JSON file             (env FLOTILLA_CONFIG)
  -h, --help                show this help

${ALERT_USAGE}

Each setting is taken from its flag, else its environment variable, else the config file, else its
default. The config file is one JSON object keyed by flag name, e.g.
  { "redis": "redis://127.0.0.1:6379", "port": 7420, "token-file": "token",
    "node-token": { "mac-mini": "…" }, "fallback-node": "mac-mini" }
A relative token-file, tokens-file, secret-key-file, tls-cert, tls-key or redis-* file there is read
from the config file's directory.
The fleet token is an admin token named "fleet"; see "token add --help" for scopes.

Example:
  flotilla-coordinator --redis redis://127.0.0.1:6379 --token-file ~/.flotilla/token --fallback-node mac-mini
`;

const OPTIONS = {
  redis: { type: "string" },
  "redis-ca": { type: "string" },
  "redis-cert": { type: "string" },
  "redis-key": { type: "string" },
  "redis-user": { type: "string" },
  "redis-password-file": { type: "string" },
  port: { type: "string" },
  host: { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "insecure-listen": { type: "boolean" },
  token: { type: "string" },
  "token-file": { type: "string" },
  "node-token": { type: "string", multiple: true },
  "tokens-file": { type: "string" },
  "metrics-public": { type: "boolean" },
  prefix: { type: "string" },
  "secret-key-file": { type: "string" },
  "heartbeat-ms": { type: "string" },
  "dead-after-ms": { type: "string" },
  strategy: { type: "string" },
  "load-threshold": { type: "string" },
  "fallback-node": { type: "string" },
  "hold-ahead-ms": { type: "string" },
  "require-durable": { type: "boolean" },
  "retention-days": { type: "string" },
  "retention-max-finished": { type: "string" },
  "dead-letter-retention-days": { type: "string" },
  "max-output-bytes": { type: "string" },
  "max-waiting": { type: "string" },
  "max-frames-per-second": { type: "string" },
  "max-submits-per-second": { type: "string" },
  "max-connections-per-token": { type: "string" },
  "max-watches": { type: "string" },
  "max-buffered-bytes": { type: "string" },
  "log-level": { type: "string" },
  config: { type: "string" },
  help: { type: "boolean", short: "h" },
  ...ALERT_FLAGS,
} as const;

/**
 * Settings an environment variable gives: a set variable beats the config file's value for every flag
 * named (the token and its file are one setting), and is beaten by any of those flags.
 */
const ENVIRONMENT: EnvironmentSettings = [
  ["FLOTILLA_REDIS_URL", ["redis"]],
  ["FLOTILLA_PORT", ["port"]],
  ["FLOTILLA_TOKEN", ["token", "token-file"]],
  ["FLOTILLA_TOKENS_FILE", ["tokens-file"]],
];

/** Settings naming a file: a relative path in the config file is read from the config file's directory. */
const FILE_FLAGS = [
  "token-file",
  "tokens-file",
  "secret-key-file",
  "tls-cert",
  "tls-key",
  "redis-ca",
  "redis-cert",
  "redis-key",
  "redis-password-file",
] as const;

class UsageError extends Error {}

/** The Redis TLS and ACL settings from their flags, files read. */
async function redisConnection(values: FlagValues): Promise<RedisConnectionSettings> {
  const read = async (flag: "redis-ca" | "redis-cert" | "redis-key" | "redis-password-file") => {
    const path = values[flag];
    if (typeof path !== "string") return undefined;
    try {
      return await readFile(path, "utf8");
    } catch (error) {
      throw new UsageError(`cannot read --${flag} ${path}: ${(error as Error).message}`);
    }
  };
  const settings: RedisConnectionSettings = {};
  const ca = await read("redis-ca");
  if (ca !== undefined) settings.ca = ca;
  const cert = await read("redis-cert");
  if (cert !== undefined) settings.cert = cert;
  const key = await read("redis-key");
  if (key !== undefined) settings.key = key;
  if (typeof values["redis-user"] === "string") settings.username = values["redis-user"];
  // Only the line's end is trimmed: a password may begin or end with spaces on purpose.
  const password = await read("redis-password-file");
  if (password !== undefined) settings.password = password.replace(/\r?\n$/, "");
  return settings;
}

const DAY_MS = 24 * 3600 * 1000;

function number(
  flag: string,
  value: string | undefined,
  { integer = true, min = 0 } = {},
): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || (integer && !Number.isInteger(parsed)) || parsed < min) {
    throw new UsageError(
      `--${flag} wants ${integer ? "a whole number" : "a number"} >= ${min}, got "${value}"`,
    );
  }
  return parsed;
}

/** Parses flags and environment into coordinator options. */
export async function resolveCoordinatorOptions(
  argv: readonly string[],
  env: Record<string, string | undefined>,
): Promise<CoordinatorOptions | "help"> {
  let parsed: ReturnType<
    typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: false; args: string[] }>
  >;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: false, strict: true });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (parsed.values.help) return "help";
  const values = (await withConfigFile(parsed.values, env)) as typeof parsed.values;
  let token = values.token ?? env.FLOTILLA_TOKEN;
  if (values["token-file"] !== undefined) {
    try {
      token = (await readFile(values["token-file"], "utf8")).trim();
    } catch (error) {
      throw new UsageError(`cannot read --token-file ${values["token-file"]}: ${(error as Error).message}`);
    }
  }
  const tokensFile = values["tokens-file"] ?? env.FLOTILLA_TOKENS_FILE;
  let tokens: CoordinatorOptions["tokens"] = [];
  if (tokensFile !== undefined) {
    try {
      tokens = await readTokensFile(tokensFile);
    } catch (error) {
      throw new UsageError(`cannot read --tokens-file ${tokensFile}: ${(error as Error).message}`);
    }
  }
  if (!token && tokens.length === 0)
    throw new UsageError(
      "a token is required: --token <t>, --token-file <path>, --tokens-file or FLOTILLA_TOKEN",
    );
  const nodeTokens: Record<string, string> = {};
  for (const pair of values["node-token"] ?? []) {
    const at = pair.indexOf("=");
    if (at <= 0 || at === pair.length - 1) throw new UsageError(`--node-token wants id=token, got "${pair}"`);
    nodeTokens[pair.slice(0, at)] = pair.slice(at + 1);
  }
  const strategy = values.strategy;
  if (strategy !== undefined && !(STRATEGY_NAMES as readonly string[]).includes(strategy)) {
    throw new UsageError(`--strategy must be one of ${STRATEGY_NAMES.join(", ")}`);
  }
  const options: CoordinatorOptions = {
    redisUrl: values.redis ?? env.FLOTILLA_REDIS_URL ?? "redis://127.0.0.1:6379",
    nodeTokens,
    redisConnection: await redisConnection(values),
    tokens,
  };
  if (token) options.token = token;
  if (values["metrics-public"] === true) options.metricsPublic = true;
  const port = number("port", values.port ?? env.FLOTILLA_PORT);
  if (port !== undefined) {
    if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
    options.port = port;
  }
  if (values.host !== undefined) options.host = values.host;
  const [cert, key] = [values["tls-cert"], values["tls-key"]];
  if ((cert === undefined) !== (key === undefined))
    throw new UsageError("--tls-cert and --tls-key go together: give both or neither");
  if (cert !== undefined && key !== undefined) options.tls = { cert, key };
  if (values["insecure-listen"] === true) options.insecureListen = true;
  if (values.prefix !== undefined) options.prefix = values.prefix;
  options.secretKey = values["secret-key-file"] ?? defaultSecretKeyFile(values["token-file"]);
  const heartbeat = number("heartbeat-ms", values["heartbeat-ms"], { min: 10 });
  if (heartbeat !== undefined) options.heartbeatIntervalMs = heartbeat;
  const deadAfter = number("dead-after-ms", values["dead-after-ms"], { min: 20 });
  if (deadAfter !== undefined) options.deadAfterMs = deadAfter;
  if (strategy !== undefined) options.strategy = strategy;
  const threshold = number("load-threshold", values["load-threshold"], { integer: false });
  if (threshold !== undefined) options.loadThreshold = threshold;
  if (values["fallback-node"] !== undefined) options.fallbackNode = values["fallback-node"];
  const holdAhead = number("hold-ahead-ms", values["hold-ahead-ms"], { min: 0 });
  if (holdAhead !== undefined) options.holdAheadMs = holdAhead;
  if (values["require-durable"] === true) options.requireDurable = true;
  const days = (flag: "retention-days" | "dead-letter-retention-days"): number | undefined => {
    const value = number(flag, values[flag], { integer: false });
    return value === undefined ? undefined : value * DAY_MS;
  };
  const retention = days("retention-days");
  if (retention !== undefined) options.retentionMs = retention;
  const deadLetterRetention = days("dead-letter-retention-days");
  if (deadLetterRetention !== undefined) options.deadLetterRetentionMs = deadLetterRetention;
  const maxFinished = number("retention-max-finished", values["retention-max-finished"]);
  if (maxFinished !== undefined) options.retentionMaxFinished = maxFinished;
  const maxOutput = number("max-output-bytes", values["max-output-bytes"]);
  if (maxOutput !== undefined) options.maxOutputBytes = maxOutput;
  const maxWaiting = number("max-waiting", values["max-waiting"]);
  if (maxWaiting !== undefined) options.maxWaiting = maxWaiting;
  const limitFlags = [
    ["max-frames-per-second", "maxFramesPerSecond"],
    ["max-submits-per-second", "maxSubmitsPerSecond"],
    ["max-connections-per-token", "maxConnectionsPerToken"],
    ["max-watches", "maxWatchesPerConnection"],
    ["max-buffered-bytes", "maxBufferedBytes"],
  ] as const;
  for (const [flag, option] of limitFlags) {
    const limit = number(flag, values[flag]);
    if (limit !== undefined) options[option] = limit;
  }
  Object.assign(options, alertOptions(values, number));
  options.logger = pino(
    { name: "flotilla-coordinator", level: values["log-level"] ?? "info" },
    pino.destination(2),
  );
  return options;
}

/**
 * The flags' values over the config file's (`--config` or `FLOTILLA_CONFIG`), leaving out the file's
 * values for what the environment sets. Flags and environment are read as before by the caller.
 */
async function withConfigFile(
  flags: FlagValues,
  env: Record<string, string | undefined>,
): Promise<FlagValues> {
  const path = (flags.config as string | undefined) ?? env.FLOTILLA_CONFIG;
  if (path === undefined || path === "") return flags;
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new UsageError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  let file: FlagValues;
  try {
    file = configFileValues(text, path, OPTIONS, ["help", "config"]);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  for (const flag of FILE_FLAGS) {
    const value = file[flag];
    if (typeof value === "string") file[flag] = resolve(dirname(path), value);
  }
  return layerSettings(flags, file, env, ENVIRONMENT).values;
}

/** Runs the coordinator until a stop signal; returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  if (argv[0] === "init-tls") return await runInitTls(argv.slice(1), io);
  if (argv[0] === "token") return runTokenCommand(argv.slice(1), io);
  let options: CoordinatorOptions | "help";
  try {
    options = await resolveCoordinatorOptions(argv, io.env);
  } catch (error) {
    io.err(`flotilla-coordinator: ${(error as Error).message} (see --help)`);
    return 2;
  }
  if (options === "help") {
    io.out(USAGE);
    return 0;
  }
  if (io.logger) options.logger = io.logger;
  let started = false;
  let deposed: (() => void) | undefined;
  const wasDeposed = new Promise<"deposed">((resolve) => {
    deposed = () => resolve("deposed");
  });
  options.onRoleChange = (role) => {
    if (role === "deposed") deposed?.();
    // Taking over from a standby: said on stdout, like the start.
    else if (started) io.out(`flotilla-coordinator active: took over the fleet on ${coordinator.url}`);
  };
  let coordinator: Coordinator;
  try {
    coordinator = (io.makeCoordinator ?? createCoordinator)(options);
    await coordinator.start();
  } catch (error) {
    const text = isFlotillaError(error) ? error.message : (error as Error).message;
    io.err(`flotilla-coordinator: ${text}`);
    return 1;
  }
  started = true;
  const reload = coordinator;
  if (options.tls) io.onReloadSignal?.(() => void reload.reloadTls());
  const where = `listening on ${coordinator.url} (Redis ${redactUrl(options.redisUrl)})`;
  if (coordinator.role === "active") io.out(`flotilla-coordinator ready: ${where}`);
  else
    io.out(
      `flotilla-coordinator standby: ${where}; another coordinator is active, taking over when it stops`,
    );
  const ended = await Promise.race([
    wasDeposed,
    new Promise<"signal">((resolve) => {
      if (io.onStopSignal) io.onStopSignal(() => resolve("signal"));
    }),
  ]);
  if (ended === "deposed") {
    // Its service manager starts it again, as a standby.
    io.err("flotilla-coordinator: another coordinator took over the fleet; exiting");
    return 1;
  }
  io.out("flotilla-coordinator: stopping (finishing in-flight Redis writes)");
  await coordinator.stop();
  return 0;
}
