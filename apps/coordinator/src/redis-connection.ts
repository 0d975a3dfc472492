/**
 * The coordinator's Redis connection: the one place that turns the Redis URL and its TLS and ACL settings
 * (`--redis-ca`, `--redis-cert`, `--redis-key`, `--redis-user`, `--redis-password-file`) and its topology
 * (a plain server; the primary that Redis Sentinel names, `--redis-sentinel` and `--redis-master`) into
 * ioredis options, or for a Redis Cluster (`--redis-cluster`) into an ioredis `Cluster`, opens the
 * connection and checks the server before anything is read. Every other connection
 * (the bridges' subscriber) is a `duplicate()` of this one and so inherits the same options. Every URL this
 * module puts into an error or a log line goes through `redactUrl` first.
 */
import { FlotillaError, redactUrl } from "@flotilla/protocol";
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from "ioredis";
import type { Logger } from "pino";
import { errorMessage } from "./context.js";

/** How to reach Redis beyond its URL: TLS material and the ACL user. Settings here beat the URL's. */
export interface RedisConnectionSettings {
  /** PEM of the CA that signed the server's certificate (a private CA); the system CAs by default. */
  ca?: string | Buffer;
  /** PEM of a client certificate, for a Redis run with `tls-auth-clients yes`; needs `key`. */
  cert?: string | Buffer;
  /** PEM of the client certificate's private key. */
  key?: string | Buffer;
  /** ACL user name (Redis 6+); the URL's user, else `default`. */
  username?: string;
  /** Password of that user; the URL's password otherwise. */
  password?: string;
  /**
   * Redis Sentinel: the sentinels to ask where the primary of {@link masterName} is. The URL's host and port
   * are then unused (its user, password and database still apply to the primary); ioredis asks the
   * sentinels again after a failover and follows the promoted replica.
   */
  sentinels?: readonly RedisAddress[];
  /** The name the sentinels monitor the primary under (`sentinel monitor <name> ...`). */
  masterName?: string;
  /**
   * Redis Cluster: some of its primaries, from which ioredis learns the rest. The URL's host and port are
   * then unused (its user and password still apply); every key of the fleet must carry one hash tag
   * (see `fleetHashTag` in `@flotilla/protocol`).
   */
  cluster?: readonly RedisAddress[];
}

/** The coordinator's connection: one Redis server (or the primary the sentinels name), or a Redis Cluster. */
export type RedisClient = Redis | Cluster;

/** A Redis server's (or sentinel's) host and port. */
export interface RedisAddress {
  readonly host: string;
  readonly port: number;
}

/** Parses `host:port,host:port` (an IPv6 host in brackets); throws `E_CONFIG` naming `what` on a bad entry. */
export function parseRedisAddresses(list: string, what: string): RedisAddress[] {
  return list
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "")
    .map((entry) => {
      const match = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(entry);
      const port = Number(match?.[2]);
      if (!match?.[1] || !(port > 0 && port <= 65535))
        throw new FlotillaError("E_CONFIG", `${what} wants host:port entries, got "${entry}"`);
      return { host: match[1], port };
    });
}

/** The Redis as a log line or an error names it: the URL without its password, or the sentinels' master. */
export function describeRedis(url: string, settings: RedisConnectionSettings = {}): string {
  if (settings.cluster?.length) {
    return `cluster ${settings.cluster.map((s) => `${s.host}:${s.port}`).join(",")}`;
  }
  if (settings.sentinels?.length) {
    const where = settings.sentinels.map((s) => `${s.host}:${s.port}`).join(",");
    return `primary "${settings.masterName}" of sentinels ${where}`;
  }
  return redactUrl(url);
}

/** ioredis options as its constructor takes them (its `replyMapping` is not optional-undefined there). */
export type RedisConnectionOptions = Omit<RedisOptions, "replyMapping">;

/**
 * The ioredis options for `url` with `settings`. TLS is on for a `rediss://` URL; TLS material given with
 * any other URL is a configuration error rather than silently unused.
 */
export function redisConnectionOptions(
  url: string,
  settings: RedisConnectionSettings = {},
): RedisConnectionOptions {
  const tlsGiven = settings.ca !== undefined || settings.cert !== undefined || settings.key !== undefined;
  const secure = /^rediss:\/\//i.test(url);
  if (tlsGiven && !secure) {
    throw new FlotillaError(
      "E_CONFIG",
      `a Redis CA, certificate or key was given but ${redactUrl(url)} is not a rediss:// URL`,
    );
  }
  if ((settings.cert === undefined) !== (settings.key === undefined)) {
    throw new FlotillaError(
      "E_CONFIG",
      "a Redis client certificate needs its key, and a key its certificate",
    );
  }
  const options: RedisConnectionOptions = {
    lazyConnect: true,
    // Commands issued in the same tick go out in one write: fewer syscalls on the hot path.
    enableAutoPipelining: true,
    // Script calls are batched per turn by the ScriptRunner already: its one command goes out at once.
    autoPipeliningIgnoredCommands: ["evalsha", "eval"],
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2000),
  };
  if (secure) {
    // Host name verification stays on (Node's default): the certificate must name the URL's host.
    options.tls = {
      ...(settings.ca === undefined ? {} : { ca: settings.ca }),
      ...(settings.cert === undefined ? {} : { cert: settings.cert }),
      ...(settings.key === undefined ? {} : { key: settings.key }),
    };
  }
  if (settings.username !== undefined) options.username = settings.username;
  if (settings.password !== undefined) options.password = settings.password;
  if (settings.sentinels?.length) {
    if (!settings.masterName)
      throw new FlotillaError("E_CONFIG", "--redis-sentinel needs --redis-master: the name they monitor");
    options.sentinels = settings.sentinels.map(({ host, port }) => ({ host, port }));
    options.name = settings.masterName;
    options.role = "master";
    // Sentinel's +switch-master is followed at once, not only when the old primary's connection fails.
    options.failoverDetector = true;
    // A primary demoted to replica answers writes with READONLY: reconnect and ask the sentinels again.
    options.reconnectOnError = (error) => (error.message.startsWith("READONLY") ? 2 : false);
  } else if (settings.masterName !== undefined) {
    throw new FlotillaError("E_CONFIG", "--redis-master needs --redis-sentinel: where to ask for it");
  }
  return options;
}

/** ioredis `Cluster` options as its constructor takes them (see {@link RedisConnectionOptions}). */
export type ClusterConnectionOptions = Omit<ClusterOptions, "redisOptions"> & {
  redisOptions: Omit<NonNullable<ClusterOptions["redisOptions"]>, "replyMapping">;
};

/**
 * The ioredis `Cluster` options for `url` with `settings`: each node is reached as
 * {@link redisConnectionOptions} says (TLS, user, password from the URL or the flags), commands made while
 * the cluster is unreachable or failing over wait, as on a single server.
 */
export function clusterOptions(url: string, settings: RedisConnectionSettings): ClusterConnectionOptions {
  if (settings.sentinels?.length)
    throw new FlotillaError("E_CONFIG", "--redis-cluster and --redis-sentinel exclude each other");
  const node = redisConnectionOptions(url, settings);
  const parsed = new URL(url);
  const redisOptions: ClusterConnectionOptions["redisOptions"] = { maxRetriesPerRequest: null };
  if (node.tls) redisOptions.tls = node.tls;
  const username = node.username ?? decodeURIComponent(parsed.username);
  const password = node.password ?? decodeURIComponent(parsed.password);
  if (username !== "") redisOptions.username = username;
  if (password !== "") redisOptions.password = password;
  return {
    lazyConnect: true,
    enableAutoPipelining: true,
    autoPipeliningIgnoredCommands: ["evalsha", "eval"],
    enableOfflineQueue: true,
    clusterRetryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2000),
    redisOptions,
  };
}

/** A second connection with the same options (a subscriber, say): of the same server, or of the cluster. */
export function duplicateConnection(redis: RedisClient): RedisClient {
  return redis instanceof Cluster ? redis.duplicate() : redis.duplicate();
}

/**
 * Opens the connection, checks that Redis answers and is 7.0 or newer, and logs its state changes.
 * Throws `E_REDIS_UNAVAILABLE` naming the URL without its password.
 */
export async function openRedis(
  url: string,
  settings: RedisConnectionSettings,
  log: Logger,
): Promise<RedisClient> {
  const shown = describeRedis(url, settings);
  const redis: RedisClient = settings.cluster?.length
    ? new Cluster(
        settings.cluster.map(({ host, port }) => ({ host, port })),
        clusterOptions(url, settings),
      )
    : new Redis(url, redisConnectionOptions(url, settings));
  let lastRedisError = "";
  redis.on("error", (error: Error) => {
    lastRedisError = error.message;
    log.warn({ err: error.message }, "redis connection problem");
  });
  redis.on("reconnecting", () => log.warn("redis: reconnecting"));
  redis.on("ready", () => log.info("redis: ready"));
  try {
    await withTimeout(redis.connect(), 5000, `cannot reach Redis at ${shown}`);
    await redis.ping();
  } catch (error) {
    redis.disconnect();
    const why = lastRedisError || errorMessage(error);
    throw new FlotillaError("E_REDIS_UNAVAILABLE", `cannot reach Redis at ${shown}: ${why}`, {
      cause: error,
    });
  }
  const version = /redis_version:(\d+)\.(\d+)/.exec(await redis.info("server"));
  if (version && Number(version[1]) < 7) {
    redis.disconnect();
    throw new FlotillaError(
      "E_REDIS_UNAVAILABLE",
      `Redis at ${shown} is ${version[1]}.${version[2]}; Flotilla needs Redis 7.0 or newer`,
    );
  }
  return redis;
}

async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} (no answer in ${ms} ms)`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
