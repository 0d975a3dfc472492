/**
 * Tells when the fleet's Redis was emptied or replaced under a running coordinator: a Redis restarted
 * without its append-only file, a lost disk, a failover to a replica that never had the data. The first
 * coordinator to start on a Redis writes a random generation id (`coordinator:generation`, SET NX); each
 * start reads it, and after every reconnect (ioredis `ready`) it is read again. Gone or different means
 * every task, queue and lease this coordinator knows of may be gone too. This module only detects and
 * reports (`onEmptied`); what to do about it is its caller's.
 */
import { randomBytes } from "node:crypto";
import type { RedisClient } from "./redis-connection.js";

/** What {@link RedisGeneration} found after a reconnect. */
export interface EmptiedInfo {
  /** The generation this coordinator started with. */
  readonly expected: string;
  /** What Redis holds now: `null` when the key is gone (emptied), another id when replaced. */
  readonly found: string | null;
  /** When it was found (epoch ms, by the injected clock). */
  readonly detectedAt: number;
}

/** Options of a {@link RedisGeneration}. */
export interface RedisGenerationOptions {
  readonly redis: RedisClient;
  /** The generation key (`coordinatorKeys(prefix).generation`). */
  readonly key: string;
  /** Called once for each different finding after a reconnect. */
  readonly onEmptied: (info: EmptiedInfo) => void;
  /** Called when a check after a reconnect could not run (Redis went away again); it runs at the next. */
  readonly onCheckFailed?: (error: Error) => void;
  readonly clock?: () => number;
  /** A new generation id (default: 16 random bytes, hex). */
  readonly newId?: () => string;
}

/** Watches one Redis connection for its data being emptied or replaced. */
export class RedisGeneration {
  private expected: string | undefined;
  private lastReported: string | null | undefined;
  private readonly onReady = (): void => {
    this.check().catch((error: unknown) =>
      this.options.onCheckFailed?.(error instanceof Error ? error : new Error(String(error))),
    );
  };

  constructor(private readonly options: RedisGenerationOptions) {}

  /** The generation this coordinator runs against, once started. */
  get id(): string | undefined {
    return this.expected;
  }

  /**
   * Writes the generation if this Redis has none yet, reads it, and checks it again after every
   * reconnect from now on. Returns the generation.
   */
  async start(): Promise<string> {
    const generation = await this.adopt();
    this.options.redis.on("ready", this.onReady);
    return generation;
  }

  /**
   * Takes the generation Redis holds now, writing a new one if it has none: at start, and after an
   * emptied Redis was reported, so that the next emptying is told from this one.
   */
  async adopt(): Promise<string> {
    const { redis, key } = this.options;
    const fresh = (this.options.newId ?? (() => randomBytes(16).toString("hex")))();
    // Claims the key and reads who held it in one call (NX with GET): the id in Redis either way.
    const held = await redis.set(key, fresh, "NX", "GET");
    this.expected = held ?? fresh;
    this.lastReported = undefined;
    return this.expected;
  }

  /** Stops watching. */
  stop(): void {
    this.options.redis.off("ready", this.onReady);
  }

  /**
   * Reads the generation now; calls `onEmptied` (once per finding) and returns false when it is gone or
   * different.
   */
  async check(): Promise<boolean> {
    const expected = this.expected;
    if (expected === undefined) throw new Error("RedisGeneration.check before start");
    const found = await this.options.redis.get(this.options.key);
    if (found === expected) return true;
    if (found !== this.lastReported) {
      this.lastReported = found;
      const now = this.options.clock ?? Date.now;
      this.options.onEmptied({ expected, found, detectedAt: now() });
    }
    return false;
  }
}
