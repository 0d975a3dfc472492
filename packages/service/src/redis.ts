/**
 * The Redis a fleet's coordinator keeps its state in, as a service: a config with the persistence the
 * coordinator's `--require-durable` asks for (AOF on, fsync every second, no eviction), bound to the
 * addresses given, and the spec that runs `redis-server` with it.
 */
import { join } from "node:path";
import type { ServiceSpec } from "./spec.js";

/** Where and how Redis listens and keeps its data. */
export interface RedisServiceOptions {
  redisServer: string;
  bind: string[];
  port: number;
  /** Its data directory (the AOF and RDB files); the config is written here too. */
  dataDir: string;
  homeDir: string;
  system: boolean;
  env: Record<string, string>;
}

/** The text of `redis.conf`. */
export function redisConfig(options: Pick<RedisServiceOptions, "bind" | "port" | "dataDir">): string {
  return `# Written by flotilla-coordinator service install --with-redis.
bind ${options.bind.join(" ")}
port ${options.port}
dir ${options.dataDir}
appendonly yes
appendfsync everysec
maxmemory-policy noeviction
# The service manager runs it in the foreground and restarts it.
daemonize no
`;
}

/** The config file's path in a data directory. */
export const redisConfigPath = (dataDir: string): string => join(dataDir, "redis.conf");

/** The default data directory of a Redis service. */
export function defaultRedisDataDir(homeDir: string, system: boolean): string {
  return system ? "/var/lib/flotilla/redis" : join(homeDir, ".flotilla", "redis");
}

/** The service that runs `redis-server` with {@link redisConfig}. */
export function redisServiceSpec(options: RedisServiceOptions): ServiceSpec {
  return {
    name: "redis",
    description: "Redis for the Flotilla coordinator",
    command: [options.redisServer, redisConfigPath(options.dataDir)],
    env: options.env,
    workingDirectory: options.dataDir,
    homeDir: options.homeDir,
    system: options.system,
    stopTimeoutSeconds: 30,
    processType: "Standard",
    secret: false,
  };
}

/** The two settings that decide whether Redis keeps the fleet's data. */
export interface RedisPersistence {
  appendonly: string;
  maxmemoryPolicy: string;
}

/**
 * Reads `appendonly` and `maxmemory-policy` with `CONFIG GET` through `call` (ioredis's `redis.call`);
 * rejects as `CONFIG GET` does where it is disabled or renamed (managed Redis services).
 */
export async function readPersistence(
  call: (command: string, ...args: string[]) => Promise<unknown>,
): Promise<RedisPersistence> {
  const flat = (await call("CONFIG", "GET", "appendonly", "maxmemory-policy")) as string[];
  const settings = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) settings.set(String(flat[i]), String(flat[i + 1]));
  return {
    appendonly: settings.get("appendonly") ?? "unknown",
    maxmemoryPolicy: settings.get("maxmemory-policy") ?? "unknown",
  };
}
