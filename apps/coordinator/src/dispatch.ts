/**
 * Leasing queued work to agents. `Dispatcher` runs at most one lease script per node at a time, records
 * what it leases in the lease table and pushes the assignments; when a node has room and nothing queued it
 * asks balancing to steal. It owns the per-node dispatch state (`dispatching`), the nodes whose queue must
 * be asked in Redis even when it looks empty here (`verifyQueue`, marked by membership), and when each
 * queued task was submitted (for the dispatch-latency metric, noted by submit). Of a node it changes
 * `inflight` (new leases), `reserved` and `queued` (set again from what the lease script left).
 */
import type { TaskSpec } from "@flotilla/protocol";
import type { CoordinatorContext, CoordinatorParts } from "./context.js";
import { type FleetNode, inQueue, leaseCapacity } from "./fleet.js";
import { newLease } from "./lease-table.js";
import { hasSecrets } from "./secrets.js";
import type { LeaseBatch } from "./store.js";

/** Leases queued tasks to their nodes' agents. */
export class Dispatcher {
  private readonly dispatching = new Map<string, "busy" | "again">();
  /** Nodes whose next dispatch asks Redis even if their queue looks empty here. */
  private readonly verifyQueue = new Set<string>();
  private readonly submittedAt = new Map<string, number>();

  constructor(
    private readonly ctx: CoordinatorContext,
    private readonly parts: Pick<CoordinatorParts, "balancing" | "faults" | "alerts">,
  ) {}

  /** How many leases the node may hold now (its slots, and what its agent holds ahead for short tasks). */
  capacity(node: FleetNode): number {
    return leaseCapacity(node, this.ctx.options.holdAheadMs);
  }

  /** The next dispatch to `nodeId` asks Redis for its queue even if the count kept here says it is empty. */
  verify(nodeId: string): void {
    this.verifyQueue.add(nodeId);
  }

  /** A task was queued at `now` (its dispatch latency is measured from then). */
  queuedAt(taskId: string, now: number): void {
    this.submittedAt.set(taskId, now);
  }

  /** Leases what the node has room for and pushes assignments; at most one dispatch per node at a time. */
  async dispatch(nodeId: string): Promise<void> {
    const state = this.dispatching.get(nodeId);
    if (state !== undefined) {
      this.dispatching.set(nodeId, "again");
      return;
    }
    this.dispatching.set(nodeId, "busy");
    try {
      for (;;) {
        this.dispatching.set(nodeId, "busy");
        await this.dispatchOnce(nodeId);
        if (this.dispatching.get(nodeId) !== "again") break;
      }
    } finally {
      this.dispatching.delete(nodeId);
    }
  }

  private async dispatchOnce(nodeId: string): Promise<void> {
    const ctx = this.ctx;
    const node = ctx.nodes.get(nodeId);
    const session = ctx.sessions.agent(nodeId);
    if (!node || !session || node.health !== "healthy" || node.draining || ctx.stopping) return;
    const now = ctx.options.clock();
    let free = this.capacity(node) - node.inflight;
    if (free <= 0) return;
    const admitted = ctx.breakers.admits(nodeId, now);
    if (admitted === "none") return;
    if (admitted === "probe") free = 1;
    // The count of queued tasks kept here follows every write that adds or removes one; when it says
    // the queue is empty, the lease script would pop nothing, so it is skipped (the heartbeat checks).
    if (inQueue(node) <= 0 && !this.verifyQueue.delete(nodeId)) {
      if (admitted === "all") await this.parts.balancing.steal(nodeId);
      return;
    }
    this.verifyQueue.delete(nodeId);
    const settledBefore = node.settled;
    // Room for what this lease can pop, so submits meanwhile do not lease past the node's capacity: the
    // queue as counted here, but for tasks being leased in their own submit scripts. (A lease that only
    // checks an empty-looking queue reserves nothing.)
    node.reserved = Math.min(free, Math.max(0, inQueue(node)));
    let batch: LeaseBatch;
    try {
      batch = await ctx.db.lease(nodeId, free, now);
    } finally {
      node.reserved = 0;
    }
    const { leases, remaining } = batch;
    // The count is set again from what the script left, plus what may have landed after it ran: the
    // placements still being written, and those whose write came back while the lease was out. That
    // may count a few twice (the next lease puts it right), never too few: a count that fell short would
    // leave tasks in the queue with no dispatch to take them until the next heartbeat.
    node.queued = remaining + node.placing + (node.settled - settledBefore);
    if (leases.length === 0) {
      if (admitted === "all") await this.parts.balancing.steal(nodeId);
      return;
    }
    if (admitted === "probe") this.parts.faults.probeStarted(nodeId, now);
    for (const lease of leases) {
      const spec = JSON.parse(lease.specJson) as TaskSpec;
      ctx.leases.add(
        lease.taskId,
        newLease(nodeId, lease.epoch, lease.attempt, spec, now, undefined, undefined),
      );
      node.inflight += 1;
      const submitted = this.submittedAt.get(lease.taskId);
      if (submitted !== undefined) {
        ctx.metrics.dispatchLatency.observe((now - submitted) / 1000);
        ctx.metrics.queueLatency.record(now - submitted);
        this.parts.alerts.recordStart(now - submitted, now);
        this.submittedAt.delete(lease.taskId);
      }
      // A task with secrets goes out with them decrypted (or, when they do not open, with the reason).
      const opened = hasSecrets(spec) ? ctx.secrets.forLease(lease.taskId, spec) : undefined;
      ctx.out.sendRaw(
        session,
        ctx.frames.assign(
          lease.taskId,
          lease.epoch,
          lease.attempt,
          opened?.specJson ?? lease.specJson,
          now,
          lease.seqFrom,
          opened?.error,
        ),
      );
      ctx.fanout.event(lease.taskId, lease.eventJson, false);
    }
  }
}
