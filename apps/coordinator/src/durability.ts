/**
 * Whether the fleet's Redis keeps what it is given. A Redis without the append-only file loses every write
 * since its last snapshot when it restarts, and one whose `maxmemory-policy` may evict keys can drop a
 * task, a queue or a lease at any time; either way accepted tasks vanish. Read at start with `CONFIG GET`,
 * which managed Redis services often disable or rename: then it cannot be checked, which is said too. The
 * coordinator warns, or refuses to start when asked to require durability (`--require-durable`).
 */
import { FlotillaError } from "@flotilla/protocol";
import { type RedisPersistence, readPersistence } from "@flotilla/service";
import type { RedisClient } from "./redis-connection.js";

/** What {@link checkDurability} found. */
export interface DurabilityReport {
  /** Whether `CONFIG GET` answered; when false the settings below are unknown. */
  readonly checked: boolean;
  /** `appendonly` ("yes" / "no"), when checked. */
  readonly appendonly?: string;
  /** `maxmemory-policy`, when checked. */
  readonly maxmemoryPolicy?: string;
  /** What can lose data, one sentence each; empty when Redis is durable. */
  readonly problems: readonly string[];
}

/** Reads `appendonly` and `maxmemory-policy` and says what in them can lose the fleet's data. */
export async function checkDurability(redis: RedisClient): Promise<DurabilityReport> {
  let persistence: RedisPersistence;
  try {
    persistence = await readPersistence((command, ...args) => redis.call(command, ...args));
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return {
      checked: false,
      problems: [
        `cannot check whether Redis keeps its data (CONFIG GET failed: ${why}); make sure it runs with ` +
          "appendonly yes and maxmemory-policy noeviction",
      ],
    };
  }
  const { appendonly, maxmemoryPolicy } = persistence;
  const problems: string[] = [];
  if (appendonly !== "yes") {
    problems.push(
      `Redis runs with appendonly ${appendonly}: a restart loses every task written since its last ` +
        "snapshot; run it with --appendonly yes",
    );
  }
  if (maxmemoryPolicy !== "noeviction") {
    problems.push(
      `Redis runs with maxmemory-policy ${maxmemoryPolicy}: when full it may evict tasks, queues and ` +
        "leases; run it with --maxmemory-policy noeviction",
    );
  }
  return { checked: true, appendonly, maxmemoryPolicy, problems };
}

/**
 * Acts on a report: with `requireDurable`, throws `E_CONFIG` naming every problem (a Redis that cannot be
 * checked counts as one); otherwise passes each problem to `warn`.
 */
export function enforceDurability(
  report: DurabilityReport,
  options: { requireDurable: boolean; warn: (problem: string) => void },
): void {
  if (report.problems.length === 0) return;
  if (options.requireDurable) {
    throw new FlotillaError(
      "E_CONFIG",
      `refusing to start (--require-durable): ${report.problems.join("; ")}`,
      { details: { problems: [...report.problems] } },
    );
  }
  for (const problem of report.problems) options.warn(problem);
}
