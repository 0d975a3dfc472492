/**
 * The coordinator as a service (`flotilla-coordinator service install|uninstall|status|logs`), and with
 * `--with-redis` the Redis it keeps the fleet in, configured durable (AOF, fsync every second, no
 * eviction) and bound to the addresses given. The coordinator's own flags are checked as a start would
 * check them, then baked in; the token moves to the service's environment (and the file becomes 0600).
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { type ParseArgsConfig, parseArgs } from "node:util";
import { FlotillaError } from "@flotilla/protocol";
import {
  type BuildContext,
  defaultRedisDataDir,
  type ProgramServiceIo,
  redisConfig,
  redisConfigPath,
  redisServiceSpec,
  renderService,
  runProgramService,
  SERVICE_FLAG_NAMES,
  SERVICE_FLAGS,
  type ServiceFile,
  serviceAction,
  servicePath,
} from "@flotilla/service";
import type { CoordinatorOptions } from "./options.js";

/** The coordinator's command line, as `cli.ts` defines it (passed in, so this module does not import it). */
export interface CoordinatorFlags {
  options: Parameters<typeof parseArgs>[0] extends infer C
    ? C extends { options?: infer O }
      ? NonNullable<O>
      : never
    : never;
  /** Flags naming a file: made absolute, as the service runs elsewhere. */
  fileFlags: readonly string[];
  /** Checks flags and environment as a start would. */
  resolve: (
    argv: readonly string[],
    env: Record<string, string | undefined>,
  ) => Promise<CoordinatorOptions | "help">;
}

/** Flags of `service install --with-redis`. */
const REDIS_SERVICE_FLAGS = {
  "with-redis": { type: "boolean" },
  "redis-bind": { type: "string" },
  "redis-port": { type: "string" },
  "redis-dir": { type: "string" },
  "redis-server": { type: "string" },
} as const;

/** Usage lines for `--help`. */
export const REDIS_SERVICE_USAGE = `    --with-redis            also install Redis as a service: appendonly yes, appendfsync everysec,
                            maxmemory-policy noeviction (the coordinator's --redis then points at it)
    --redis-bind <a,b>      addresses Redis listens on (default 127.0.0.1)
    --redis-port <n>        its port (default 6379)
    --redis-dir <dir>       its data directory (default ~/.flotilla/redis, /var/lib/flotilla/redis with --system)
    --redis-server <path>   the redis-server binary (default: found on PATH)`;

/** Environment variables the coordinator reads, carried into the service when set here. */
const CARRIED_ENV = ["FLOTILLA_REDIS_URL", "FLOTILLA_PORT", "FLOTILLA_TOKENS_FILE", "FLOTILLA_CONFIG"];

/** Seconds the manager waits after SIGTERM: the coordinator finishes its in-flight Redis writes well within. */
const COORDINATOR_STOP_TIMEOUT_SECONDS = 30;

/** Whether `argv` is a service command (`service …` or `install-service`). */
export const isServiceCommand = (argv: readonly string[]): boolean =>
  argv[0] === "service" || argv[0] === "install-service";

/** Runs `service <action>` for the coordinator. */
export async function runCoordinatorService(
  argv: readonly string[],
  io: ProgramServiceIo & { err: (line: string) => void },
  cli: CoordinatorFlags,
): Promise<number> {
  try {
    const words = argv[0] === "install-service" ? ["install-service"] : argv.slice(0, 2);
    const action = serviceAction(words);
    if (action === undefined)
      throw new FlotillaError("E_CONFIG", "service wants install, uninstall, status or logs");
    const options: NonNullable<ParseArgsConfig["options"]> = {
      ...cli.options,
      ...SERVICE_FLAGS,
      ...REDIS_SERVICE_FLAGS,
    };
    const parsed = parseArgs({
      args: argv.slice(words.length),
      options,
      allowPositionals: false,
      strict: true,
      tokens: true,
    });
    const describe = async (context: BuildContext) => {
      const own = new Set([...SERVICE_FLAG_NAMES, ...Object.keys(REDIS_SERVICE_FLAGS), "help"]);
      const args: string[] = [];
      const env: Record<string, string> = {};
      for (const name of CARRIED_ENV) {
        const value = io.env[name];
        if (value !== undefined && value !== "") env[name] = value;
      }
      if (io.env.FLOTILLA_TOKEN) env.FLOTILLA_TOKEN = io.env.FLOTILLA_TOKEN;
      for (const token of parsed.tokens) {
        if (token.kind !== "option" || own.has(token.name)) continue;
        if (token.name === "token" && token.value !== undefined) env.FLOTILLA_TOKEN = token.value;
        else if (token.name === "log-file") continue;
        else if (token.value === undefined) args.push(`--${token.name}`);
        else {
          const isFile = cli.fileFlags.includes(token.name) || token.name === "config";
          args.push(`--${token.name}`, isFile ? resolve(token.value) : token.value);
        }
      }
      const extra: ServiceFile[] = [];
      const notes: string[] = [];
      if (parsed.values["with-redis"] === true) {
        const redis = redisFiles(parsed.values, context, io);
        extra.push(...redis.files);
        notes.push(redis.note);
        if (parsed.values.redis === undefined && env.FLOTILLA_REDIS_URL === undefined)
          args.push("--redis", redis.url);
      }
      // Checked as a start would check them: a service that cannot start is not installed.
      const checked = await cli.resolve(args, { ...io.env, ...env });
      if (checked === "help") throw new FlotillaError("E_CONFIG", "--help is not a setting to install");
      return {
        program: {
          name: "coordinator",
          description: "Flotilla coordinator",
          args,
          env,
          processType: "Standard" as const,
          stopTimeoutSeconds: COORDINATOR_STOP_TIMEOUT_SECONDS,
          notes: [],
          secret: parsed.values["node-token"] !== undefined,
        },
        extra,
        notes,
      };
    };
    return await runProgramService(action, parsed.values, ["coordinator", "redis"], describe, io);
  } catch (error) {
    io.err(`flotilla-coordinator: ${(error as Error).message} (see --help)`);
    return 2;
  }
}

/** The Redis config and service of `--with-redis`, and the URL the coordinator reaches it at. */
function redisFiles(
  values: { [K in keyof typeof REDIS_SERVICE_FLAGS]?: string | boolean | undefined },
  context: BuildContext,
  io: ProgramServiceIo,
): { files: ServiceFile[]; url: string; note: string } {
  const bind = String(values["redis-bind"] ?? "127.0.0.1")
    .split(",")
    .map((address) => address.trim())
    .filter((address) => address !== "");
  const port = Number(values["redis-port"] ?? 6379);
  if (bind.length === 0 || !Number.isInteger(port) || port < 1 || port > 65535)
    throw new FlotillaError("E_CONFIG", "--redis-bind wants addresses and --redis-port a port number");
  const dataDir = resolve(
    String(values["redis-dir"] ?? defaultRedisDataDir(context.homeDir, context.system)),
  );
  const exists = io.probe?.exists ?? existsSync;
  const redisServer =
    typeof values["redis-server"] === "string"
      ? resolve(values["redis-server"])
      : servicePath(io.env.PATH)
          .split(":")
          .map((dir) => join(dir, "redis-server"))
          .find(exists);
  if (redisServer === undefined)
    throw new FlotillaError(
      "E_CONFIG",
      "redis-server not found on PATH: brew install redis (or apt-get install redis-server), or pass --redis-server",
    );
  const spec = redisServiceSpec({
    redisServer,
    bind,
    port,
    dataDir,
    homeDir: context.homeDir,
    system: context.system,
    env: { PATH: servicePath(io.env.PATH) },
  });
  const conf: ServiceFile = {
    manager: context.manager,
    path: redisConfigPath(dataDir),
    content: redisConfig({ bind, port, dataDir }),
    mode: 0o644,
    activate: [],
    deactivate: [],
  };
  const host = bind[0] === "0.0.0.0" || bind[0] === "*" ? "127.0.0.1" : (bind[0] ?? "127.0.0.1");
  return {
    files: [conf, renderService(context.manager, spec, context.uid)],
    url: `redis://${host.includes(":") ? `[${host}]` : host}:${port}`,
    note: `redis: ${redisServer} with ${conf.path} (AOF on, noeviction), bound to ${bind.join(", ")}; data in ${dataDir} (uninstall leaves it)`,
  };
}
