/**
 * The leadership lease: which one coordinator of a fleet may change its state in Redis. The lease is one
 * key (`coordinator:leader`, value `<coordinatorId>:<token>`, with a TTL) that its holder renews every
 * second; the token is the fencing token, a number taken from a counter (`coordinator:fence`, INCR) when
 * the lease is acquired, so each term has a larger one. Every state-changing script compares the caller's
 * token with the counter (see `scripts.ts`): once another coordinator has acquired the lease, the old one's
 * writes are refused even if it does not know yet that it lost. This module owns the lease and its
 * term; what a coordinator does when elected or deposed is its caller's.
 */
import { EventEmitter } from "node:events";
import type { RedisClient } from "./redis-connection.js";

/** One term of leadership: the holder and its fencing token. */
export interface LeaderTerm {
  readonly coordinatorId: string;
  /** The fencing token, in decimal (what the scripts compare). */
  readonly token: string;
}

/** Why a leader stopped being one. */
export type LossReason =
  /** Another coordinator holds the lease now. */
  | "taken"
  /** The lease and the fencing counter are gone: Redis was emptied or replaced. */
  | "vanished"
  /** No renewal got through within the lease's TTL (Redis unreachable or slow): another may lead now. */
  | "expired"
  /** This coordinator gave it up ({@link Leadership.lose}). */
  | "released";

/** The lease as this instance sees it. */
export type LeadershipState =
  | { readonly kind: "follower" }
  | { readonly kind: "leader"; readonly term: LeaderTerm; readonly confirmedAt: number };

/** Events of a {@link Leadership}. */
export interface LeadershipEvents {
  elected: [term: LeaderTerm];
  lost: [reason: LossReason, term: LeaderTerm];
}

/** Timers, injectable so tests can drive them. */
export interface LeadershipClock {
  now(): number;
  /** Calls `tick` every `ms` until the returned function is called. */
  every(ms: number, tick: () => void): () => void;
}

/** Options of a {@link Leadership}. */
export interface LeadershipOptions {
  readonly redis: RedisClient;
  /** The lease key (`coordinatorKeys(prefix).leader`). */
  readonly leaderKey: string;
  /** The fencing counter (`coordinatorKeys(prefix).fence`). */
  readonly fenceKey: string;
  /** This coordinator's id; must not contain `:`. */
  readonly coordinatorId: string;
  /** How long a lease lasts without renewal, ms (default 3000: a standby takes over within 5 s of a crash). */
  readonly ttlMs?: number;
  /** How often the leader renews and a follower tries to acquire, ms (default 750). */
  readonly renewIntervalMs?: number;
  readonly clock?: LeadershipClock;
}

const systemClock: LeadershipClock = {
  now: () => Date.now(),
  every(ms, tick) {
    const timer = setInterval(tick, ms);
    timer.unref();
    return () => clearInterval(timer);
  },
};

/** KEYS[1] lease, KEYS[2] counter; ARGV[1] id, ARGV[2] ttl ms, ARGV[3] "1" to take it even if held. */
const ACQUIRE = `
if ARGV[3] ~= "1" and redis.call("EXISTS", KEYS[1]) == 1 then return false end
local token = redis.call("INCR", KEYS[2])
redis.call("SET", KEYS[1], ARGV[1] .. ":" .. token, "PX", ARGV[2])
return token`;

/**
 * KEYS[1] lease, KEYS[2] counter; ARGV[1] "<id>:<token>", ARGV[2] ttl ms, ARGV[3] token. Returns 1 when
 * renewed, 0 when another holds it, -1 when it is gone along with the counter. A lease that expired while
 * the counter still holds this token (no one acquired it since) is taken again under the same term.
 */
const RENEW = `
local held = redis.call("GET", KEYS[1])
if held == ARGV[1] then
  redis.call("PEXPIRE", KEYS[1], ARGV[2])
  return 1
end
if held then return 0 end
local current = redis.call("GET", KEYS[2])
if current == ARGV[3] then
  redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
  return 1
end
if current then return 0 end
return -1`;

/** KEYS[1] lease; ARGV[1] "<id>:<token>". Deletes the lease only while it is this holder's. */
const RELEASE = `
if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end
return 0`;

/** Parses a lease value `<coordinatorId>:<token>`. */
export function parseLeaderValue(value: string | null): LeaderTerm | undefined {
  if (value === null) return undefined;
  const at = value.lastIndexOf(":");
  if (at <= 0) return undefined;
  return { coordinatorId: value.slice(0, at), token: value.slice(at + 1) };
}

/**
 * One coordinator's side of the leadership lease. {@link acquire} takes it when free, {@link seize} takes
 * it even when held (the newest start wins), {@link start} keeps it: the leader renews it every interval
 * and a follower tries to acquire it. Emits `elected` with each new term and `lost` when a term ends.
 */
export class Leadership extends EventEmitter<LeadershipEvents> {
  private current: LeadershipState = { kind: "follower" };
  private stopTimer: (() => void) | undefined;
  private busy = false;
  /** The term that expired here without a renewal getting through: taken back if no one else took it. */
  private expired: LeaderTerm | undefined;
  private readonly ttlMs: number;
  private readonly intervalMs: number;
  private readonly clock: LeadershipClock;

  constructor(private readonly options: LeadershipOptions) {
    super();
    if (options.coordinatorId.includes(":")) throw new RangeError("coordinatorId must not contain ':'");
    this.ttlMs = options.ttlMs ?? 3000;
    this.intervalMs = options.renewIntervalMs ?? 750;
    if (this.intervalMs * 2 > this.ttlMs) throw new RangeError("renewIntervalMs must be at most ttlMs / 2");
    this.clock = options.clock ?? systemClock;
  }

  /** The lease as this instance last saw it. */
  get state(): LeadershipState {
    return this.current;
  }

  /** This instance's fencing token while it leads, else `undefined`. */
  get token(): string | undefined {
    return this.current.kind === "leader" ? this.current.term.token : undefined;
  }

  /** Takes the lease if no one holds it; true when this instance leads now. */
  async acquire(): Promise<boolean> {
    if (this.current.kind === "leader") return true;
    return await this.take(false);
  }

  /**
   * Takes the lease whether or not another holds it, with a new fencing token: the previous holder's
   * writes are refused from now on. For a coordinator that runs alone and restarts: the newest start wins.
   */
  async seize(): Promise<LeaderTerm> {
    // A leader seizing again (its counter vanished with Redis's data) starts a new term of its own: it lost
    // nothing to anyone, so no `lost` is said; `elected` follows with the new token.
    if (this.current.kind === "leader") this.current = { kind: "follower" };
    await this.take(true);
    const state = this.state;
    if (state.kind !== "leader") throw new Error("leadership: the lease was taken but no term began");
    return state.term;
  }

  /** Renews the lease; false (and `lost` emitted) when this instance no longer leads. */
  async renew(): Promise<boolean> {
    const state = this.current;
    if (state.kind !== "leader") return false;
    const sentAt = this.clock.now();
    const result = await this.renewTerm(state.term);
    // The term may have ended meanwhile (released, or expired while the call waited).
    if (this.current !== state) return this.current.kind === "leader";
    if (result === 1) {
      this.current = { kind: "leader", term: state.term, confirmedAt: sentAt };
      return true;
    }
    this.end(result === 0 ? "taken" : "vanished");
    return false;
  }

  /**
   * After its term expired here (renewals did not get through), takes the lease back under the same term
   * when no one acquired it since: the fencing token is unchanged, so writes sent meanwhile still count.
   */
  private async reclaim(term: LeaderTerm): Promise<boolean> {
    const sentAt = this.clock.now();
    const result = await this.renewTerm(term);
    if (this.current.kind === "leader" || this.expired !== term) return this.current.kind === "leader";
    this.expired = undefined;
    // Another coordinator leads now: said once more, since this one may still be acting as the leader.
    if (result === 0) this.emit("lost", "taken", term);
    if (result !== 1) return false;
    this.current = { kind: "leader", term, confirmedAt: sentAt };
    this.emit("elected", term);
    return true;
  }

  private async renewTerm(term: LeaderTerm): Promise<number> {
    const { coordinatorId, token } = term;
    const { redis, leaderKey, fenceKey } = this.options;
    const value = `${coordinatorId}:${token}`;
    return Number(await redis.eval(RENEW, 2, leaderKey, fenceKey, value, this.ttlMs, token));
  }

  /** Who holds the lease now, read from Redis. */
  async observe(): Promise<LeaderTerm | undefined> {
    return parseLeaderValue(await this.options.redis.get(this.options.leaderKey));
  }

  /** Stops the loop and gives the lease up (deleting it while it is still this instance's). */
  async lose(): Promise<void> {
    this.stop();
    const state = this.current;
    if (state.kind !== "leader") return;
    this.end("released");
    const { coordinatorId, token } = state.term;
    await this.options.redis.eval(RELEASE, 1, this.options.leaderKey, `${coordinatorId}:${token}`);
  }

  /** Starts the loop: the leader renews every interval, a follower tries to acquire. */
  start(): void {
    if (this.stopTimer) return;
    this.stopTimer = this.clock.every(this.intervalMs, () => this.tick());
  }

  /** Stops the loop without giving the lease up: it expires after its TTL unless renewed by hand. */
  stop(): void {
    this.stopTimer?.();
    this.stopTimer = undefined;
  }

  private tick(): void {
    const state = this.current;
    // A leader whose renewals have not got through for a whole TTL may have been replaced: it stops
    // counting itself the leader without waiting for Redis to answer.
    if (state.kind === "leader" && this.clock.now() - state.confirmedAt >= this.ttlMs) this.end("expired");
    if (this.busy) return;
    this.busy = true;
    const expired = this.expired;
    const step =
      this.current.kind === "leader" ? this.renew() : expired ? this.reclaim(expired) : this.acquire();
    step
      .catch(() => false)
      .finally(() => {
        this.busy = false;
      });
  }

  private async take(force: boolean): Promise<boolean> {
    const sentAt = this.clock.now();
    const { coordinatorId } = this.options;
    const token = await this.options.redis.eval(
      ACQUIRE,
      2,
      this.options.leaderKey,
      this.options.fenceKey,
      coordinatorId,
      this.ttlMs,
      force ? "1" : "0",
    );
    if (token === null) return false;
    const term: LeaderTerm = { coordinatorId, token: String(token) };
    this.expired = undefined;
    this.current = { kind: "leader", term, confirmedAt: sentAt };
    this.emit("elected", term);
    return true;
  }

  private end(reason: LossReason): void {
    const state = this.current;
    if (state.kind !== "leader") return;
    this.current = { kind: "follower" };
    this.expired = reason === "expired" ? state.term : undefined;
    this.emit("lost", reason, state.term);
  }
}
