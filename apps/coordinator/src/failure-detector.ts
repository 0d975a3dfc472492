/**
 * Finding dead nodes and saving their work. `FailureDetector` marks a node suspect when its connection
 * closes, declares it dead once it stays away past the suspect grace or goes silent past `deadAfterMs`
 * (`check`, run by the housekeeping sweep), and then requeues its leases (`requeueLost`, also used by
 * membership for runs an agent lost in a restart) and moves its queue elsewhere (`evacuateQueue`, also
 * used on a breaker opening, a drain and a rebalance). It keeps no state of its own: of a node it changes
 * `health`, `status`, `disconnectedAt`, `inflight` (0 once dead), `queued` (read back after an
 * evacuation) and `stats.reroutes`; it unbinds a dead node's connection.
 */
import type { TaskSpec } from "@flotilla/protocol";
import { type CoordinatorContext, type CoordinatorParts, TERMINAL } from "./context.js";
import { failpoint } from "./failpoints.js";
import type { FleetNode } from "./fleet.js";
import { retryDecision } from "./retry-policy.js";
import type { Placement } from "./router.js";
import type { StoredTask, Transition } from "./store.js";
import type { Session } from "./transport/session.js";

const LEASE_LOST = { kind: "lease_lost" } as const;

/** Suspect and dead nodes, and the work they leave behind. */
export class FailureDetector {
  constructor(
    private readonly ctx: CoordinatorContext,
    private readonly parts: Pick<CoordinatorParts, "placement" | "faults" | "events">,
  ) {}

  /** An agent's connection closed: its node is suspect until it reconnects or the grace runs out. */
  connectionClosed(session: Session): void {
    const ctx = this.ctx;
    if (session.role !== "agent" || session.nodeId === undefined) return;
    if (ctx.sessions.agent(session.nodeId) !== session) return;
    ctx.sessions.unbindAgent(session.nodeId);
    const node = ctx.nodes.get(session.nodeId);
    if (!node || node.health === "dead") return;
    node.health = "suspect";
    node.disconnectedAt = ctx.options.clock();
    ctx.log.warn({ node: node.id }, "agent connection closed: node suspect");
  }

  /** Declares dead every node whose connection stayed closed, or that stayed silent, too long. */
  async check(now: number): Promise<void> {
    const options = this.ctx.options;
    for (const node of this.ctx.nodes.values()) {
      if (node.health === "dead") continue;
      const closedTooLong =
        node.disconnectedAt !== undefined && now - node.disconnectedAt >= options.suspectGraceMs;
      const silentTooLong = now - node.lastHeartbeatAt >= options.deadAfterMs;
      if (closedTooLong || silentTooLong) {
        await this.declareDead(
          node,
          closedTooLong ? "connection closed and not back" : "missed heartbeats",
          now,
        );
      }
    }
  }

  /**
   * Takes the node out of the fleet and requeues its leases and its queue. The node leaves
   * `agents:active` last: a crash on the way leaves it there (and in `nodes:known`), so the next start
   * recovers it and declares it dead again, and nothing it held is left behind.
   */
  async declareDead(node: FleetNode, why: string, now: number): Promise<void> {
    const ctx = this.ctx;
    node.health = "dead";
    node.status = "offline";
    const detectMs = now - (node.disconnectedAt ?? node.lastHeartbeatAt);
    ctx.metrics.detections.observe(detectMs / 1000);
    const session = ctx.sessions.agent(node.id);
    if (session) {
      ctx.sessions.unbindAgent(node.id);
      session.socket.terminate();
    }
    ctx.log.warn({ node: node.id, why, detectMs }, "node declared dead; requeueing its work");
    const keys = ctx.keys.redis;
    await ctx.redisClient
      .multi()
      .hset(keys.agent(node.id), "status", "offline")
      .del(keys.agentHeartbeat(node.id))
      .exec();
    await this.parts.events.nodeEvent("node.dead", node.id, now, { why, detectMs });
    const running = await ctx.db.runningIds(node.id);
    if (running.length > 0) this.parts.faults.fault(node.id, now, `lost ${running.length} lease(s): ${why}`);
    const tasks = await ctx.db.getTasks(running);
    for (const task of tasks) {
      await this.requeueLost(task, node.id, `node ${node.id} died (${why})`, now);
      failpoint("declare-dead");
    }
    failpoint("declare-dead");
    node.inflight = 0;
    await this.evacuateQueue(node.id, `node ${node.id} died`);
    await ctx.redisClient.srem(keys.agentsActive, node.id);
  }

  /** A leased or running task whose node lost it: retry elsewhere, or dead-letter after the last attempt. */
  async requeueLost(task: StoredTask, nodeId: string, reason: string, now: number): Promise<void> {
    const ctx = this.ctx;
    const spec = task.spec as TaskSpec;
    const source = { kind: "set" as const, key: ctx.keys.store.running(nodeId) };
    const attemptRecord = { attempt: Math.max(1, task.attempt), node: nodeId, reason, at: now };
    let change: Transition;
    let placement: Placement | undefined;
    if (task.fields.cancelRequested === "1") {
      change = {
        from: ["leased", "running"],
        to: "cancelled",
        source,
        fields: { finishedAt: now },
        reason,
        now,
      };
    } else if (retryDecision(spec, task.attempt, LEASE_LOST, ctx.options.random).action === "dead_letter") {
      change = {
        from: ["leased", "running"],
        to: "dead_lettered",
        source,
        target: { key: ctx.keys.store.deadLetters(), score: now },
        fields: { finishedAt: now, error: JSON.stringify({ code: "E_NODE_UNAVAILABLE", message: reason }) },
        attemptRecord,
        reason,
        now,
      };
    } else {
      placement = this.parts.placement.place(spec, now, nodeId);
      change = {
        from: ["leased", "running"],
        ...this.parts.placement.change(placement, now),
        source,
        attemptRecord,
        reason,
        now,
      };
    }
    change.expectedEpoch = task.epoch;
    change.bumpEpoch = true;
    const result = await ctx.db.transition(task.id, change);
    ctx.leases.release(task.id, task.epoch);
    if (placement) this.parts.placement.settle(placement, result.ok);
    if (!result.ok) return;
    ctx.metrics.requeued.inc();
    const node = ctx.nodes.get(nodeId);
    if (node) node.stats.reroutes += 1;
    ctx.fanout.event(task.id, result.eventJson, TERMINAL.has(change.to));
    await this.parts.events.taskFailure(task.id, nodeId, reason, now);
  }

  /** Moves every queued task of a node to other nodes (or the waiting list). */
  async evacuateQueue(nodeId: string, reason: string): Promise<void> {
    const ctx = this.ctx;
    const placements = this.parts.placement;
    const now = ctx.options.clock();
    const ids = await ctx.db.queuedIds(nodeId);
    const tasks = await ctx.db.getTasks(ids);
    for (const task of tasks) {
      const placement = placements.place(task.spec as TaskSpec, now, nodeId);
      const result = await ctx.db.transition(task.id, {
        from: ["queued"],
        ...placements.change(placement, now),
        source: { kind: "zset", key: ctx.keys.store.queue(nodeId) },
        reason,
        now,
      });
      placements.settle(placement, result.ok);
      if (!result.ok) continue;
      ctx.metrics.migrations.inc();
      ctx.fanout.event(task.id, result.eventJson, false);
    }
    const node = ctx.nodes.get(nodeId);
    if (node) node.queued = await ctx.redisClient.zcard(ctx.keys.store.queue(nodeId));
  }
}
