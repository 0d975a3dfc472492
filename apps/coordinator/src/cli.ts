import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  configFileValues,
  type EnvironmentSettings,
  type FlagValues,
  isFlotillaError,
  layerSettings,
} from "@flotilla/protocol";
import { STRATEGY_NAMES } from "@flotilla/scheduler";
import { type ProgramServiceIo, RotatingFile } from "@flotilla/service";
import { type Logger, pino } from "pino";
import { ALERT_FLAGS, alertOptions } from "./alert-flags.js";
import type { TokenEntry } from "./auth.js";
import { USAGE } from "./cli-usage.js";
import { type Coordinator, createCoordinator } from "./coordinator.js";
import { runInitTls } from "./init-tls.js";
import type { CoordinatorOptions } from "./options.js";
import {
  describeRedis,
  parseRedisAddresses,
  type RedisAddress,
  type RedisConnectionSettings,
} from "./redis-connection.js";
import { defaultSecretKeyFile } from "./secrets.js";
import { isServiceCommand, runCoordinatorService } from "./service.js";
import { readTokensFile, runTokenCommand, tokenEntries } from "./tokens-file.js";

export { USAGE } from "./cli-usage.js";

/** What the CLI touches outside itself; `main.ts` passes the real process, tests pass fakes. */
export interface CliIo extends ProgramServiceIo {
  err: (line: string) => void;
  /** Registers a handler for SIGTERM/SIGINT (none in tests). */
  onStopSignal?: (handler: () => void) => void;
  /** Registers a handler for SIGHUP: reload the TLS certificate and key (none in tests). */
  onReloadSignal?: (handler: () => void) => void;
  logger?: Logger;
  /** Resolves when the coordinator should stop (tests); by default the stop signal decides. */
  makeCoordinator?: (options: CoordinatorOptions) => Coordinator;
}

const OPTIONS = {
  redis: { type: "string" },
  "redis-ca": { type: "string" },
  "redis-cert": { type: "string" },
  "redis-key": { type: "string" },
  "redis-user": { type: "string" },
  "redis-password-file": { type: "string" },
  "redis-sentinel": { type: "string" },
  "redis-master": { type: "string" },
  "redis-cluster": { type: "string" },
  "redis-wait-replicas": { type: "string" },
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
  "project-claim-lease-ms": { type: "string" },
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
  "log-file": { type: "string" },
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
  const sentinels = values["redis-sentinel"];
  const master = values["redis-master"];
  if ((sentinels === undefined) !== (master === undefined))
    throw new UsageError("--redis-sentinel and --redis-master go together: give both or neither");
  if (typeof sentinels === "string" && typeof master === "string") {
    settings.sentinels = addresses(sentinels, "--redis-sentinel");
    settings.masterName = master;
  }
  const cluster = values["redis-cluster"];
  if (typeof cluster === "string") {
    if (sentinels !== undefined)
      throw new UsageError("--redis-cluster and --redis-sentinel exclude each other");
    settings.cluster = addresses(cluster, "--redis-cluster");
  }
  return settings;
}

/** The `host:port,...` of a flag, at least one. */
function addresses(list: string, flag: string): RedisAddress[] {
  let parsed: RedisAddress[];
  try {
    parsed = parseRedisAddresses(list, flag);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (parsed.length === 0) throw new UsageError(`${flag} names no Redis`);
  return parsed;
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
  const config = await withConfigFile(parsed.values, env);
  const values = config.values as typeof parsed.values;
  let token = values.token ?? env.FLOTILLA_TOKEN;
  if (values["token-file"] !== undefined) {
    try {
      token = (await readFile(values["token-file"], "utf8")).trim();
    } catch (error) {
      throw new UsageError(`cannot read --token-file ${values["token-file"]}: ${(error as Error).message}`);
    }
  }
  const tokensFile = values["tokens-file"] ?? env.FLOTILLA_TOKENS_FILE;
  // The config file's `tokens` section and a token file add up (their names must differ).
  const tokens: TokenEntry[] = [...config.tokens];
  if (tokensFile !== undefined) {
    try {
      tokens.push(...(await readTokensFile(tokensFile)));
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
  const waitReplicas = number("redis-wait-replicas", values["redis-wait-replicas"]);
  if (waitReplicas !== undefined) options.redisWaitReplicas = waitReplicas;
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
  const claimLease = number("project-claim-lease-ms", values["project-claim-lease-ms"], { min: 100 });
  if (claimLease !== undefined) options.projectClaimLeaseMs = claimLease;
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
    values["log-file"] === undefined ? pino.destination(2) : new RotatingFile(values["log-file"]),
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
): Promise<{ values: FlagValues; tokens: TokenEntry[] }> {
  const path = (flags.config as string | undefined) ?? env.FLOTILLA_CONFIG;
  if (path === undefined || path === "") return { values: flags, tokens: [] };
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new UsageError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  let file: FlagValues;
  let tokens: TokenEntry[] = [];
  try {
    const section = tokensSection(text);
    file = configFileValues(section.rest, path, OPTIONS, ["help", "config"]);
    if (section.tokens !== undefined) tokens = tokenEntries(section.tokens, `config file ${path}: tokens`);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  for (const flag of FILE_FLAGS) {
    const value = file[flag];
    if (typeof value === "string") file[flag] = resolve(dirname(path), value);
  }
  return { values: layerSettings(flags, file, env, ENVIRONMENT).values, tokens };
}

/**
 * The config file's `tokens` section (scoped tokens, as a token file lists them) apart from its flag
 * settings; text that is not a JSON object is left whole, for `configFileValues` to say what is wrong.
 */
function tokensSection(text: string): { rest: string; tokens?: unknown } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { rest: text };
  }
  if (typeof json !== "object" || json === null || Array.isArray(json) || !Object.hasOwn(json, "tokens"))
    return { rest: text };
  const { tokens, ...rest } = json as Record<string, unknown>;
  return { rest: JSON.stringify(rest), tokens };
}

/** Runs the coordinator until a stop signal; returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  if (argv[0] === "init-tls") return await runInitTls(argv.slice(1), io);
  if (argv[0] === "token") return runTokenCommand(argv.slice(1), io);
  if (isServiceCommand(argv))
    return await runCoordinatorService(argv, io, {
      options: OPTIONS,
      fileFlags: FILE_FLAGS,
      resolve: resolveCoordinatorOptions,
    });
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
  const where = `listening on ${coordinator.url} (Redis ${describeRedis(options.redisUrl, options.redisConnection)})`;
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
