/**
 * The agent's side of the lease: the coordinator declares a node dead, and gives its work to others, once
 * it has heard nothing from it for `deadAfterMs` (sent in the welcome). A partitioned agent, or one that
 * was frozen (SIGSTOP, a suspended VM, a blocked event loop), must then stop its runs, or two nodes run
 * one task. This watch notes every frame and pong from the coordinator and, on a short timer on the
 * monotonic clock, calls `cutOff` once nothing has been heard for longer than `deadAfterMs`, or once its
 * own timer shows a gap that long (what arrives right after a freeze was sent before it, so it does not
 * count). It owns only that timing; the wiring decides what a cut-off stops.
 */
import { monotonicClock } from "../run.js";

/** How often the watch looks, as a share of the lease, within bounds (ms). */
const TICKS_PER_LEASE = 10;
const MIN_TICK_MS = 10;
const MAX_TICK_MS = 250;

/** Watches for silence from the coordinator longer than the lease. */
export class LeaseWatch {
  private deadAfterMs: number | undefined;
  /** Something came from the coordinator since the last tick (a flag: no clock read per frame). */
  private heardSinceTick = false;
  private lastHeardAt = 0;
  private lastTickAt = 0;
  private timer: NodeJS.Timeout | undefined;

  /** A ping went out since the coordinator was last heard. */
  private probed = false;

  constructor(
    /** Called with how long the coordinator has been silent (or the agent frozen), in ms. */
    private readonly cutOff: (silentForMs: number) => void,
    /** Asks the coordinator for a sign of life (a ping), when it has been quiet for a third of the lease. */
    private readonly probe: () => void,
    private readonly now: () => number = monotonicClock,
  ) {}

  /** A frame or a pong came from the coordinator. */
  heard(): void {
    this.heardSinceTick = true;
  }

  /** A welcome: its lease length applies from now on. */
  welcomed(deadAfterMs: number): void {
    const now = this.now();
    this.lastHeardAt = now;
    this.heardSinceTick = false;
    if (this.deadAfterMs !== deadAfterMs || this.timer === undefined) {
      this.deadAfterMs = deadAfterMs;
      clearInterval(this.timer);
      const tickMs = Math.min(MAX_TICK_MS, Math.max(MIN_TICK_MS, deadAfterMs / TICKS_PER_LEASE));
      this.timer = setInterval(() => this.tick(), tickMs);
      this.timer.unref();
      this.lastTickAt = now;
    }
  }

  /** Stops watching (the agent stops). */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    const deadAfterMs = this.deadAfterMs;
    if (deadAfterMs === undefined) return;
    const now = this.now();
    const gap = now - this.lastTickAt;
    this.lastTickAt = now;
    if (gap > deadAfterMs) {
      // The timer itself was held up longer than the lease: frozen, so no heartbeat went out either.
      this.fire(now, gap);
      return;
    }
    if (this.heardSinceTick) {
      this.heardSinceTick = false;
      this.probed = false;
      this.lastHeardAt = now;
      return;
    }
    const silent = now - this.lastHeardAt;
    if (silent > deadAfterMs) this.fire(now, silent);
    else if (silent > deadAfterMs / 3 && !this.probed) {
      // Heartbeats ping too, but their period may be close to the lease: a quiet link is asked directly.
      this.probed = true;
      this.probe();
    }
  }

  private fire(now: number, silentForMs: number): void {
    // Counted afresh: one cut-off per lease period of silence.
    this.heardSinceTick = false;
    this.probed = false;
    this.lastHeardAt = now;
    this.cutOff(Math.round(silentForMs));
  }
}
