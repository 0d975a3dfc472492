/**
 * Who is in the fleet. `Membership` handles an agent's hello (register or re-register its node, decide
 * which of the runs it still holds are valid, requeue the leases it lost), its heartbeats (liveness, load,
 * runs to fence, and leases Redis holds that the agent does not, through its `RunReconciler`) and its goodbye, and writes the registry other bridges read (`agent:{id}`,
 * `agent:{id}:heartbeat`, `agents:active`): the Redis calls for hello and heartbeat are made here. It adds
 * nodes to `ctx.nodes`, binds a node's connection in the session registry, and changes a node's
 * description, `health` (to healthy), `status`, `lastHeartbeatAt` and `disconnectedAt`.
 */
import { FlotillaError, type MessageOf, type TaskSpec } from "@flotilla/protocol";
import { ACTIVE_STATES, type CoordinatorContext, type CoordinatorParts } from "./context.js";
import { type FleetNode, newFleetNode, nodeSummary } from "./fleet.js";
import { newLease } from "./lease-table.js";
import { RunReconciler } from "./reconcile.js";
import type { Session } from "./transport/session.js";

/** Agents joining, beating and leaving. */
export class Membership {
  private readonly reconciler: RunReconciler;

  constructor(
    private readonly ctx: CoordinatorContext,
    private readonly parts: Pick<
      CoordinatorParts,
      "dispatch" | "detector" | "housekeeping" | "events" | "alerts"
    >,
  ) {
    this.reconciler = new RunReconciler(ctx, parts);
  }

  /** Registers the node a hello describes (after {@link mayJoin}), and settles the runs it reports. */
  async hello(session: Session, hello: MessageOf<"agent.hello">): Promise<void> {
    const ctx = this.ctx;
    const info = hello.node;
    const now = ctx.options.clock();
    session.clock.observe(Date.parse(hello.timestamp), now);
    const previous = ctx.sessions.agent(info.id);
    if (previous && previous !== session) {
      ctx.sessions.unbindAgent(info.id);
      ctx.out.flush(previous);
      previous.socket.close(4000, "replaced by a newer connection of the same node");
    }
    let node = ctx.nodes.get(info.id);
    const wasDead = node?.health === "dead";
    if (!node) {
      node = newFleetNode(info.id, now);
      ctx.nodes.set(info.id, node);
    }
    node.host = info.host;
    node.version = info.version;
    node.fingerprint = info.fingerprint;
    node.labels = info.labels;
    node.capabilities = this.ownCapabilities(info.id, info.capabilities);
    node.slots = info.slots;
    node.prefetch = hello.prefetch ?? 0;
    node.handlers = new Set(hello.handlers);
    node.lastHeartbeatAt = now;
    node.disconnectedAt = undefined;
    node.status = "ready";
    session.nodeId = info.id;
    ctx.sessions.bindAgent(info.id, session);
    // The hello settles every run below: what the last connection's heartbeats saw missing starts over.
    this.reconciler.forget(info.id);

    // Which of the runs the agent still holds are valid? Redis decides.
    const keep: { taskId: string; epoch: number }[] = [];
    const kill: { taskId: string; epoch: number }[] = [];
    const reported = new Map(hello.running.map((run) => [run.taskId, run.epoch]));
    const stored = await ctx.db.getTasks([
      ...new Set([...reported.keys(), ...(await ctx.db.runningIds(info.id))]),
    ]);
    const storedById = new Map(stored.map((task) => [task.id, task]));
    for (const [taskId, epoch] of reported) {
      const task = storedById.get(taskId);
      const valid =
        task !== undefined &&
        task.node === info.id &&
        task.epoch === epoch &&
        ACTIVE_STATES.includes(task.state);
      if (valid && task) {
        keep.push({ taskId, epoch });
        if (!ctx.leases.has(taskId)) {
          ctx.leases.add(
            taskId,
            newLease(
              info.id,
              epoch,
              task.attempt,
              task.spec as TaskSpec,
              Number(task.fields.leasedAt ?? now),
              task.fields.startedAt ? Number(task.fields.startedAt) : undefined,
              undefined,
            ),
          );
        }
      } else {
        kill.push({ taskId, epoch });
      }
    }
    node.health = "healthy";
    ctx.out.send(session, "agent.welcome", {
      nodeId: info.id,
      heartbeatIntervalMs: ctx.options.heartbeatIntervalMs,
      deadAfterMs: ctx.options.deadAfterMs,
      keep,
      kill,
    });
    // Leases Redis holds for this node that the agent no longer has: lost in a crash. Requeue them.
    for (const task of stored) {
      if (task.node === info.id && ACTIVE_STATES.includes(task.state) && !reported.has(task.id)) {
        await this.parts.detector.requeueLost(task, info.id, "the agent restarted without this run", now);
      }
    }
    node.inflight = ctx.leases.countOn(info.id);
    // Known for good, so recovery looks at its running set and queue whatever `agents:active` says.
    await ctx.redisClient.sadd(ctx.keys.nodesKnown, info.id);
    await this.writeRegistry(node, now);
    await ctx.redisClient.publish(
      ctx.keys.redis.discoveryAnnounce,
      JSON.stringify({
        from: info.id,
        type: "discovery.announce",
        timestamp: new Date(now).toISOString(),
        node: nodeSummary(node),
      }),
    );
    await this.parts.events.nodeEvent(wasDead ? "node.rejoined" : "node.joined", info.id, now, {});
    ctx.log.info(
      { node: info.id, slots: info.slots, kept: keep.length, killed: kill.length },
      "agent joined",
    );
    this.parts.housekeeping.sweepWaitingSoon();
    this.parts.dispatch.verify(info.id);
    await this.parts.dispatch.dispatch(info.id);
  }

  /**
   * Why the hello may not register its node, or undefined when it may: it throws when the hello speaks
   * for another node than it describes; it refuses a token that may not speak for that node, and a token
   * other than the one the node's live connection came with (the transport then closes the connection,
   * and the connected agent keeps its session).
   */
  mayJoin(session: Session, hello: MessageOf<"agent.hello">): string | undefined {
    const info = hello.node;
    if (hello.from !== info.id) {
      throw new FlotillaError("E_UNAUTHORIZED", `hello from ${hello.from} describes node ${info.id}`);
    }
    if (!this.ctx.authority.mayActAsNode(session.principal, info.id)) return `speak for node ${info.id}`;
    // A newer connection replaces an older one of the same token (an agent that reconnected before its
    // old socket was seen closing); another token's hello cannot take the node over.
    const current = this.ctx.sessions.agent(info.id);
    if (current !== undefined && current !== session && current.principal.name !== session.principal.name)
      return `take over node ${info.id}, connected with another token`;
    return undefined;
  }

  /**
   * The capabilities an agent advertises, without the reserved `node:` and `handler:` ones (the
   * coordinator derives those from the node's id and handlers): an agent claiming `node:<other>` would
   * draw work pinned to another node. Each stripped list is counted as a refused frame.
   */
  private ownCapabilities(nodeId: string, capabilities: string[]): string[] {
    if (!capabilities.some(reserved)) return capabilities;
    this.ctx.metrics.violations.inc({ code: "E_FORBIDDEN" });
    this.ctx.log.warn({ node: nodeId, capabilities }, "agent claimed reserved capabilities: ignored");
    return capabilities.filter((capability) => !reserved(capability));
  }

  async heartbeat(session: Session, beat: MessageOf<"heartbeat">): Promise<void> {
    const ctx = this.ctx;
    const node = ctx.nodes.get(session.nodeId as string);
    if (!node) return;
    const now = ctx.options.clock();
    const sentAt = Date.parse(beat.timestamp);
    session.clock.observe(sentAt, now);
    this.parts.alerts.recordHeartbeat(node.id, session, now - sentAt);
    node.lastHeartbeatAt = now;
    node.capabilities = this.ownCapabilities(node.id, beat.capabilities);
    node.status = beat.status;
    if (beat.load) node.load = beat.load;
    if (node.health === "suspect" && ctx.sessions.agent(node.id) === session) node.health = "healthy";
    // A run the agent still holds under an epoch that is no longer its lease: fenced, the agent kills it.
    for (const run of beat.running ?? []) {
      const lease = ctx.leases.get(run.taskId);
      if (!lease || lease.epoch !== run.epoch || lease.node !== node.id)
        ctx.out.fence(session, run.taskId, run.epoch);
    }
    const keys = ctx.keys.redis;
    const legacy = JSON.stringify({
      from: node.id,
      type: "heartbeat",
      timestamp: beat.timestamp,
      capabilities: node.capabilities,
      status: beat.status,
      ...(beat.load ? { load: beat.load } : {}),
    });
    const replies = await ctx.redisClient
      .multi()
      .set(keys.agentHeartbeat(node.id), legacy, "PX", ctx.options.deadAfterMs)
      .hset(keys.agent(node.id), "last_seen", new Date(now).toISOString(), "status", beat.status)
      .sadd(keys.agentsActive, node.id)
      .scard(ctx.keys.store.running(node.id))
      .exec();
    // A node declared dead meanwhile has had its leases requeued, and a connection replaced by a newer
    // one speaks for runs the newer hello has settled: nothing of theirs to reconcile.
    if (node.health !== "dead" && ctx.sessions.agent(node.id) === session) {
      const storedCount = Number(replies?.[3]?.[1] ?? 0);
      await this.reconciler.afterBeat(node.id, beat.running ?? [], storedCount, now);
    }
    const dispatch = this.parts.dispatch;
    if (beat.status === "ready" && node.inflight < dispatch.capacity(node)) {
      // Once a heartbeat, the queue in Redis is asked even when the count kept here says it is empty.
      dispatch.verify(node.id);
      await dispatch.dispatch(node.id);
    }
  }

  bye(session: Session): void {
    const node = this.ctx.nodes.get(session.nodeId as string);
    if (!node) return;
    node.status = "offline";
    node.draining = true;
    this.ctx.log.info({ node: node.id }, "agent said goodbye");
  }

  /** Writes the node's `agent:{id}` registry record as other bridges read it. */
  writeRegistry(node: FleetNode, now: number): Promise<void> {
    const breaker = this.ctx.breakers.routingState(node.id, now);
    return this.ctx.bridge.writeRegistry(node, breaker, now, this.ctx.options.deadAfterMs);
  }
}

/** Whether a capability is one only the coordinator may give (see `ownCapabilities`). */
function reserved(capability: string): boolean {
  return capability.startsWith("node:") || capability.startsWith("handler:");
}
