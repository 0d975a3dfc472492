import { ConsecutiveBreaker, type ConsecutiveBreakerJSON } from "@flotilla/scheduler";

/** What a node's breaker lets through right now. */
export type Admission = "all" | "probe" | "none";

/**
 * One circuit breaker per node (from @flotilla/scheduler), fed only by node faults: spawn errors and lost
 * leases open it, a task's own non-zero exit never does. Open: no new work. Half-open: one probe task.
 */
export class BreakerRegistry {
  private readonly breakers = new Map<string, ConsecutiveBreaker>();

  constructor(
    private readonly options: { threshold: number; initialBackoffMs: number } = {
      threshold: 3,
      initialBackoffMs: 5000,
    },
  ) {}

  private get(nodeId: string): ConsecutiveBreaker {
    let breaker = this.breakers.get(nodeId);
    if (!breaker) {
      breaker = new ConsecutiveBreaker({
        threshold: this.options.threshold,
        backoff: { initialMs: this.options.initialBackoffMs },
      });
      this.breakers.set(nodeId, breaker);
    }
    return breaker;
  }

  /** The state as stored and listed (`closed`, `open`, `half_open`). */
  state(nodeId: string): "closed" | "open" | "half_open" {
    return this.get(nodeId).state;
  }

  /**
   * The state placement should see: an open breaker whose backoff is over counts as half-open, so one task
   * can be queued there to serve as the probe.
   */
  routingState(nodeId: string, now: number): "closed" | "open" | "half_open" {
    const breaker = this.get(nodeId);
    if (breaker.state === "open" && breaker.canRun(now)) return "half_open";
    return breaker.state;
  }

  /** How much work the node may be given now. */
  admits(nodeId: string, now: number): Admission {
    const breaker = this.get(nodeId);
    if (breaker.state === "closed") return "all";
    return breaker.canRun(now) ? "probe" : "none";
  }

  /** Marks the single half-open probe as sent. */
  probeStarted(nodeId: string, now: number): void {
    this.get(nodeId).tryAcquireProbe(now);
  }

  recordFault(nodeId: string, now: number): void {
    this.get(nodeId).recordFailure(now);
  }

  recordSuccess(nodeId: string, now: number): void {
    this.get(nodeId).recordSuccess(now);
  }

  serialise(nodeId: string): string {
    return JSON.stringify(this.get(nodeId).toJSON());
  }

  /** Restores a breaker saved in Redis; an unreadable one starts closed. */
  restore(nodeId: string, json: string): void {
    try {
      this.breakers.set(nodeId, ConsecutiveBreaker.fromJSON(JSON.parse(json) as ConsecutiveBreakerJSON));
    } catch {
      this.breakers.delete(nodeId);
    }
  }
}
