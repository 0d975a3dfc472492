/**
 * The doctor's view of the fleet's Redis: reachable and how fast, whether it keeps what it is given (the
 * append-only file on, `maxmemory-policy noeviction`: what the coordinator's `--require-durable` asks),
 * and how far this machine's clock is from Redis `TIME`, which leases and heartbeats are measured by.
 */
import { redactUrl } from "@flotilla/protocol";
import { readPersistence } from "@flotilla/service";
import { Redis } from "ioredis";
import { type Check, fail, ok, reason, warn, within } from "./check.js";

/** Clock skew above this is a warning. */
export const MAX_CLOCK_SKEW_MS = 500;
/** Round trips slower than this are a warning (Redis should be on the same network). */
export const SLOW_REDIS_MS = 50;

const TIMEOUT_MS = 5_000;

/** Checks the Redis at `url` (none given: one warning saying how to give it). */
export async function redisChecks(url: string | undefined, now: () => number = Date.now): Promise<Check[]> {
  if (url === undefined || url === "")
    return [
      warn(
        "redis",
        "not checked: no Redis address given",
        "pass --redis redis://host:6379 or set FLOTILLA_REDIS_URL (the address the coordinator uses)",
      ),
    ];
  const shown = redactUrl(url);
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  // ioredis reports the cause (ECONNREFUSED, a TLS error) as an event and rejects with "Connection is closed".
  let cause: Error | undefined;
  redis.on("error", (error: Error) => {
    cause = error;
  });
  try {
    await within(redis.connect(), TIMEOUT_MS, shown);
  } catch (error) {
    redis.disconnect();
    return [
      fail(
        "redis",
        `cannot reach ${shown}: ${reason(cause ?? error)}`,
        "start Redis (flotilla-coordinator service install --with-redis) and check its address, bind and firewall",
      ),
    ];
  }
  try {
    const checks: Check[] = [];
    const rtts: number[] = [];
    for (let i = 0; i < 5; i++) {
      const start = performance.now();
      await within(redis.ping(), TIMEOUT_MS, shown);
      rtts.push(performance.now() - start);
    }
    const median = rtts.sort((a, b) => a - b)[2] ?? 0;
    const info = await within(redis.info("server"), TIMEOUT_MS, shown);
    const version = /redis_version:(\S+)/.exec(info)?.[1] ?? "unknown";
    const answered = `${shown} answers in ${median.toFixed(1)} ms (Redis ${version})`;
    checks.push(
      median > SLOW_REDIS_MS
        ? warn("redis", answered, "run Redis near the coordinator: every task costs several round trips")
        : ok("redis", answered),
    );
    checks.push(await persistence(redis));
    checks.push(await clockSkew(redis, now));
    return checks;
  } catch (error) {
    return [fail("redis", `${shown} stopped answering: ${reason(error)}`, "check Redis's log")];
  } finally {
    redis.disconnect();
  }
}

async function persistence(redis: Redis): Promise<Check> {
  let appendonly: string;
  let policy: string;
  try {
    const found = await readPersistence((command, ...args) => redis.call(command, ...args));
    appendonly = found.appendonly;
    policy = found.maxmemoryPolicy;
  } catch (error) {
    return warn(
      "redis persistence",
      `cannot read Redis's settings (CONFIG GET: ${reason(error)})`,
      "make sure it runs with appendonly yes and maxmemory-policy noeviction",
    );
  }
  const detail = `appendonly ${appendonly}, maxmemory-policy ${policy}`;
  const problems: string[] = [];
  if (appendonly !== "yes") problems.push("CONFIG SET appendonly yes (and appendonly yes in redis.conf)");
  if (policy !== "noeviction") problems.push("CONFIG SET maxmemory-policy noeviction (and in redis.conf)");
  if (problems.length === 0) return ok("redis persistence", detail);
  const loses = appendonly !== "yes" ? "a restart loses tasks" : "a full Redis may evict tasks and leases";
  return fail("redis persistence", `${detail}: ${loses}`, problems.join("; "));
}

async function clockSkew(redis: Redis, now: () => number): Promise<Check> {
  const before = now();
  const [seconds = "0", micros = "0"] = await redis.time();
  const after = now();
  const redisMs = Number(seconds) * 1000 + Number(micros) / 1000;
  const skew = Math.round(redisMs - (before + after) / 2);
  const detail = `this clock is ${Math.abs(skew)} ms ${skew > 0 ? "behind" : "ahead of"} Redis TIME (measured over ${after - before} ms)`;
  if (Math.abs(skew) > MAX_CLOCK_SKEW_MS)
    return warn(
      "clock skew",
      detail,
      "turn on network time (macOS: System Settings > Date & Time; Linux: timedatectl set-ntp true)",
    );
  return ok("clock skew", detail);
}
