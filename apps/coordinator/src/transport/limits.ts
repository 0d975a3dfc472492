/**
 * Per-connection and per-token limits of the WebSocket transport: frames per second per connection,
 * submits per second per token, open connections per token, watches per connection, and how many bytes
 * may wait in a connection's send buffer before it counts as a slow consumer and is closed. It owns the
 * per-token state (a submit bucket and a connection count per token); each session holds its own frame
 * bucket. Every refusal is counted by limit in `flotilla_limit_refusals_total`.
 */
import type { Principal } from "../auth.js";
import type { CoordinatorMetrics } from "../metrics.js";
import { TokenBucket } from "./token-bucket.js";

/** The limits, as resolved from the options (0 turns a limit off). */
export interface LimitSettings {
  maxFramesPerSecond: number;
  maxSubmitsPerSecond: number;
  maxConnectionsPerToken: number;
  maxWatchesPerConnection: number;
  maxBufferedBytes: number;
}

/** The limit a refusal is counted under (the `limit` label). */
export type LimitName = "frames" | "submits" | "connections" | "watches" | "slow_consumer";

/** The key a principal's per-token limits are kept under: one per token the coordinator knows (names are unique). */
export function tokenKey(principal: Principal): string {
  return principal.name;
}

/** The transport's limits (see the module header). */
export class ConnectionLimits {
  private readonly submitBuckets = new Map<string, TokenBucket>();
  private readonly connections = new Map<string, number>();

  constructor(
    readonly settings: LimitSettings,
    private readonly metrics: CoordinatorMetrics,
    private readonly clock: () => number,
  ) {}

  /** A new connection's frame budget (one second's worth may come at once). */
  frameBucket(): TokenBucket {
    const rate = this.settings.maxFramesPerSecond;
    return new TokenBucket(rate, rate, this.clock);
  }

  /**
   * Whether the token may open one more connection (`false` is counted). The slot is taken by `opened`
   * once the upgrade completes, so an upgrade that fails half way holds none.
   */
  mayConnect(key: string): boolean {
    const limit = this.settings.maxConnectionsPerToken;
    if (limit === 0 || (this.connections.get(key) ?? 0) < limit) return true;
    this.refused("connections");
    return false;
  }

  /** A connection with the token is open. */
  opened(key: string): void {
    this.connections.set(key, (this.connections.get(key) ?? 0) + 1);
  }

  /** A connection with the token closed. */
  closed(key: string): void {
    const open = (this.connections.get(key) ?? 1) - 1;
    if (open <= 0) this.connections.delete(key);
    else this.connections.set(key, open);
  }

  /** Whether the token may submit `count` more tasks now (a `task.submitMany` counts each of its specs). */
  allowSubmit(key: string, count = 1): boolean {
    let bucket = this.submitBuckets.get(key);
    if (bucket === undefined) {
      const rate = this.settings.maxSubmitsPerSecond;
      bucket = new TokenBucket(rate, rate, this.clock);
      this.submitBuckets.set(key, bucket);
    }
    if (bucket.take(count)) return true;
    this.refused("submits");
    return false;
  }

  /** Whether a connection watching `watching` tasks may watch one more. */
  allowWatch(watching: number): boolean {
    const limit = this.settings.maxWatchesPerConnection;
    if (limit === 0 || watching < limit) return true;
    this.refused("watches");
    return false;
  }

  /** Whether a connection with `buffered` bytes unsent is too slow a consumer to keep. */
  tooSlow(buffered: number): boolean {
    const limit = this.settings.maxBufferedBytes;
    if (limit === 0 || buffered <= limit) return false;
    this.refused("slow_consumer");
    return true;
  }

  /** Counts a refusal by `limit`. */
  refused(limit: LimitName): void {
    this.metrics.limitRefusals.inc({ limit });
  }
}
