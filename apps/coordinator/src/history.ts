/**
 * The fleet's recent history, for charts: every `historyIntervalMs` the active coordinator takes one
 * sample (each node's load per core, memory used and slots; the fleet's queue depth by priority, running
 * tasks, throughput, steals, reroutes, the oldest task's wait) and appends it to a Redis list trimmed to
 * `historyMinutes`, so a reload or a coordinator that takes over still has the last minutes. `FleetHistory`
 * owns that list and the last sample (which the alerts read); it changes no node.
 *
 * A sample's cost: the nodes from memory, one `ZCOUNT` for throughput, and the task census `/metrics`
 * uses for queue depths and the oldest wait.
 */
import {
  type FleetHistory as FleetHistoryAnswer,
  type FleetSample,
  type HistorySample,
  HistorySampleSchema,
  type NodeSample,
  PRIORITIES,
  type Priority,
} from "@flotilla/protocol";
import type { CoordinatorContext } from "./context.js";
import { type FleetNode, slotsUsed } from "./fleet.js";

/** A node's load per core and share of memory used, from its last heartbeat (undefined when unknown). */
export function nodeUsage(node: FleetNode): { loadPerCore?: number; memoryUsed?: number } {
  const usage: { loadPerCore?: number; memoryUsed?: number } = {};
  const load = node.load;
  if (!load) return usage;
  usage.loadPerCore = load.load1 / Math.max(1, node.fingerprint?.cores ?? 1);
  const total = node.fingerprint?.memoryBytes ?? 0;
  if (load.memoryFreeBytes !== undefined && total > 0)
    usage.memoryUsed = Math.min(1, Math.max(0, 1 - load.memoryFreeBytes / total));
  return usage;
}

/** Takes, keeps and reads the fleet's history samples. */
export class FleetHistory {
  /** The last sample taken here (undefined before the first). */
  latest: HistorySample | undefined = undefined;
  /** The steal and reroute totals at the last sample, to count each interval's. */
  private counted: { steals: number; reroutes: number } | undefined = undefined;
  private sampling = false;

  constructor(private readonly ctx: CoordinatorContext) {}

  /** How many samples the list keeps. */
  get capacity(): number {
    const options = this.ctx.options;
    return Math.max(1, Math.ceil((options.historyMinutes * 60_000) / options.historyIntervalMs));
  }

  /**
   * Takes one sample and appends it to the list in Redis. One at a time: a call while the last is still
   * waiting on Redis is skipped, so samples stay in time order and each interval's counts are its own.
   */
  async sample(now: number): Promise<HistorySample | undefined> {
    if (this.sampling) return undefined;
    this.sampling = true;
    try {
      return await this.sampleOnce(now);
    } finally {
      this.sampling = false;
    }
  }

  private async sampleOnce(now: number): Promise<HistorySample> {
    const ctx = this.ctx;
    const nodes = [...ctx.nodes.values()];
    const [census, finishedLastMinute] = await Promise.all([
      ctx.db.census(nodes.map((node) => node.id)),
      ctx.redisClient.zcount(ctx.keys.store.finished(), now - 60_000, now),
    ]);
    const totals = { steals: 0, reroutes: 0 };
    const samples: Record<string, NodeSample> = {};
    let healthyNodes = 0;
    for (const node of nodes) {
      totals.steals += node.stats.steals;
      totals.reroutes += node.stats.reroutes;
      const healthy = node.health === "healthy";
      if (healthy) healthyNodes += 1;
      // A dead node's last load is history, not news: charts show it only while it is alive.
      if (node.health === "dead") continue;
      samples[node.id] = {
        ...nodeUsage(node),
        slotsUsed: slotsUsed(node),
        slotsTotal: node.slots,
        healthy,
      };
    }
    const since = this.counted ?? totals;
    this.counted = totals;
    const queued = Object.fromEntries(
      PRIORITIES.map((priority) => [priority, census.priorities[priority] ?? 0]),
    ) as Record<Priority, number>;
    const fleet: FleetSample = {
      queued,
      running: (census.states.leased ?? 0) + (census.states.running ?? 0),
      throughputPerMin: Number(finishedLastMinute),
      steals: Math.max(0, totals.steals - since.steals),
      reroutes: Math.max(0, totals.reroutes - since.reroutes),
      oldestWaitMs:
        census.oldestWaitingSince === undefined ? 0 : Math.max(0, now - census.oldestWaitingSince),
      healthyNodes,
    };
    const sample: HistorySample = { at: now, fleet, nodes: samples };
    const key = ctx.keys.history;
    await ctx.redisClient.multi().rpush(key, JSON.stringify(sample)).ltrim(key, -this.capacity, -1).exec();
    this.latest = sample;
    return sample;
  }

  /** The samples of the last `minutes` (all that is kept when absent), oldest first. */
  async read(now: number, minutes?: number): Promise<FleetHistoryAnswer> {
    const ctx = this.ctx;
    const intervalMs = ctx.options.historyIntervalMs;
    const wanted =
      minutes === undefined
        ? this.capacity
        : Math.min(this.capacity, Math.ceil((minutes * 60_000) / intervalMs));
    const raw = await ctx.redisClient.lrange(ctx.keys.history, -wanted, -1);
    const from = minutes === undefined ? Number.NEGATIVE_INFINITY : now - minutes * 60_000;
    const samples: HistorySample[] = [];
    for (const line of raw) {
      // What Redis hands back is checked like any other input: a sample another version wrote is skipped.
      const parsed = HistorySampleSchema.safeParse(parseJson(line));
      // A sample written twice (a resent RPUSH after a lost connection) shows once.
      const last = samples.at(-1)?.at ?? Number.NEGATIVE_INFINITY;
      if (parsed.success && parsed.data.at >= from && parsed.data.at > last) samples.push(parsed.data);
    }
    return { intervalMs, samples };
  }
}

/** The value of a JSON text read back from Redis, or undefined when it is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
