/**
 * Node faults and each node's circuit breaker. `NodeFaults` feeds the breakers (`ctx.breakers`) with node
 * faults, successes and probes, and acts when a breaker changes state: it saves the breaker in Redis,
 * announces the change, and moves an opened node's queue elsewhere. It is the only writer of breaker
 * state after recovery restored it; run reports, dispatch (probes) and the failure detector report here.
 */
import type { CoordinatorContext, CoordinatorParts } from "./context.js";

/** Records node faults and what follows from a breaker's change. */
export class NodeFaults {
  constructor(
    private readonly ctx: CoordinatorContext,
    private readonly parts: Pick<CoordinatorParts, "detector" | "events">,
  ) {}

  /** The node could not run a task (spawn error, lost lease). */
  fault(nodeId: string, now: number, reason: string): void {
    const before = this.ctx.breakers.state(nodeId);
    this.ctx.breakers.recordFault(nodeId, now);
    this.changed(nodeId, before, reason, now);
  }

  /** A task ran to its end on the node. */
  success(nodeId: string, now: number): void {
    const before = this.ctx.breakers.state(nodeId);
    this.ctx.breakers.recordSuccess(nodeId, now);
    this.changed(nodeId, before, "probe succeeded", now);
  }

  /** A half-open node was leased its one probe task. */
  probeStarted(nodeId: string, now: number): void {
    const before = this.ctx.breakers.state(nodeId);
    this.ctx.breakers.probeStarted(nodeId, now);
    this.changed(nodeId, before, "backoff over: one probe task", now);
  }

  private changed(nodeId: string, before: string, reason: string, now: number): void {
    const ctx = this.ctx;
    const after = ctx.breakers.state(nodeId);
    if (after === before) return;
    ctx.log.warn({ node: nodeId, from: before, to: after, reason }, "circuit breaker changed");
    ctx.guard(
      ctx.redisClient
        .multi()
        .set(ctx.keys.redis.breaker(nodeId), ctx.breakers.serialise(nodeId))
        .hset(ctx.keys.redis.agent(nodeId), "breaker", after)
        .exec(),
    );
    ctx.guard(this.parts.events.nodeEvent("node.breaker", nodeId, now, { from: before, to: after, reason }));
    // Open: no new work, so what is queued there goes to nodes that can run it.
    if (after === "open")
      ctx.guard(this.parts.detector.evacuateQueue(nodeId, `circuit breaker of ${nodeId} open`));
  }
}
