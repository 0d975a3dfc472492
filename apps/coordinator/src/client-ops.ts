/**
 * What clients ask for besides submitting: cancel, watch, task and node listings, drain and undrain,
 * broadcasts and direct messages to agents, and the dead-letter queue (list, retry, purge). `ClientOps`
 * keeps no state of its own: watches live in the fan-out, tasks in Redis. Of a node it changes `draining`
 * (a drain or undrain).
 */

import { FlotillaError, MAX_KEPT_READ, type MessageOf, type TaskSpec } from "@flotilla/protocol";
import { forbidden } from "./access.js";
import type { Principal } from "./auth.js";
import { readKept } from "./chat.js";
import { type CoordinatorContext, type CoordinatorParts, TERMINAL, taskNotFound } from "./context.js";
import { type NodeListing, nodeListing } from "./fleet.js";
import { parseJson, publicTask } from "./records.js";
import type { Session } from "./transport/session.js";

/** Client requests other than `task.submit`. */
export class ClientOps {
  constructor(
    private readonly ctx: CoordinatorContext,
    private readonly parts: Pick<
      CoordinatorParts,
      "placement" | "dispatch" | "detector" | "housekeeping" | "events"
    >,
  ) {}

  /**
   * Cancels a task: at once if it never started, else by asking its agent to stop the run. A `submit`
   * token (`by`) may cancel only the tasks it submitted.
   */
  async cancel(taskId: string, reason: string, by?: Principal): Promise<unknown> {
    const ctx = this.ctx;
    const now = ctx.options.clock();
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const task = await ctx.db.getTask(taskId);
      if (!task) throw taskNotFound(ctx, taskId);
      if (by !== undefined && by.scope !== "admin" && task.fields.submitter !== by.name)
        throw forbidden(by, `cancel ${taskId}`, "it was submitted by another token");
      if (TERMINAL.has(task.state)) {
        throw new FlotillaError("E_CONFLICT", `task ${taskId} already ended: ${task.state}`, {
          details: { state: task.state },
        });
      }
      if (task.state === "queued" || task.state === "waiting") {
        const ended = await this.parts.housekeeping.endUnstarted(
          task,
          "cancelled",
          { code: "E_CANCELLED", message: reason },
          now,
        );
        if (ended) return { ok: true, state: "cancelled" };
        continue;
      }
      // Leased or running: the agent kills the process group and reports "cancelled".
      await ctx.redisClient.hset(ctx.keys.store.task(taskId), "cancelRequested", "1");
      const session = task.node ? ctx.sessions.agent(task.node) : undefined;
      if (session) ctx.out.send(session, "task.cancel", { taskId, epoch: task.epoch, reason });
      return { ok: true, state: "cancelling" };
    }
    throw new FlotillaError("E_CONFLICT", `task ${taskId} kept changing state; try again`);
  }

  /** Replays a task's stored output and latest event to `session`, then streams what follows. */
  async watch(session: Session, taskId: string, fromSeq: number, requestId: string): Promise<void> {
    const ctx = this.ctx;
    // Register first: every change from here on is buffered while the stored part is read, so nothing
    // falls between the replay and the live stream (a change seen twice is dropped by the client).
    const watch = ctx.fanout.watch(session, taskId);
    // One round trip: the three reads are pipelined.
    const [task, chunks, latest] = await Promise.all([
      ctx.db.getTask(taskId),
      // A watcher that wants no stored output (fromSeq past any real sequence number) skips the read.
      fromSeq >= Number.MAX_SAFE_INTEGER ? Promise.resolve([]) : ctx.db.readOutput(taskId, fromSeq),
      ctx.redisClient.lindex(ctx.keys.store.taskEvents(taskId), -1),
    ]);
    if (!task) {
      ctx.fanout.unwatch(session, taskId);
      throw taskNotFound(ctx, taskId);
    }
    ctx.out.reply(session, requestId, { ok: true, state: task.state });
    for (const chunk of chunks) {
      ctx.out.send(session, "task.output", {
        taskId,
        epoch: chunk.epoch ?? task.epoch,
        stream: chunk.stream,
        seq: chunk.seq,
        data: chunk.data,
      });
    }
    const eventJson =
      latest ?? JSON.stringify({ taskId, state: task.state, at: task.updatedAt, attempt: task.attempt });
    ctx.out.sendRaw(session, ctx.frames.event(eventJson));
    ctx.fanout.endReplay(watch);
    if (TERMINAL.has(task.state)) ctx.fanout.unwatch(session, taskId);
  }

  /** One task's public record. */
  async getTask(taskId: string): Promise<unknown> {
    const task = await this.ctx.db.getTask(taskId);
    if (!task) throw taskNotFound(this.ctx, taskId);
    return publicTask(task);
  }

  /** A task's stored state changes, oldest first (the list is bounded: the oldest may have been trimmed). */
  async taskEvents(taskId: string): Promise<{ taskId: string; events: unknown[] }> {
    const [task, events] = await Promise.all([this.ctx.db.getTask(taskId), this.ctx.db.readEvents(taskId)]);
    if (!task) throw taskNotFound(this.ctx, taskId);
    return { taskId, events };
  }

  async listTasks(filter: MessageOf<"tasks.list">): Promise<unknown[]> {
    const db = this.ctx.db;
    const limit = filter.limit ?? 50;
    const ids = await db.recentTaskIds(filter.state || filter.node ? Math.max(limit * 20, 1000) : limit);
    const tasks = await db.getTasks(ids);
    return tasks
      .filter((task) => (filter.state ? task.state === filter.state : true))
      .filter((task) => (filter.node ? task.node === filter.node : true))
      .slice(0, limit)
      .map(publicTask);
  }

  /** Every node as `nodes.list` shows it. */
  nodeListing(): NodeListing[] {
    const ctx = this.ctx;
    const now = ctx.options.clock();
    return [...ctx.nodes.values()].map((node) => nodeListing(node, ctx.breakers.routingState(node.id, now)));
  }

  async setDraining(nodeId: string, draining: boolean): Promise<unknown> {
    const ctx = this.ctx;
    const node = ctx.nodes.get(nodeId);
    if (!node) throw new FlotillaError("E_NOT_FOUND", `no node ${nodeId} in the fleet`);
    node.draining = draining;
    await ctx.redisClient.hset(ctx.keys.redis.agent(nodeId), "draining", String(draining));
    await this.parts.events.nodeEvent(
      draining ? "node.drained" : "node.undrained",
      nodeId,
      ctx.options.clock(),
      {},
    );
    if (draining) await this.parts.detector.evacuateQueue(nodeId, `node ${nodeId} drained`);
    else {
      this.parts.housekeeping.sweepWaitingSoon();
      await this.parts.dispatch.dispatch(nodeId);
    }
    return { ok: true, nodeId, draining };
  }

  async broadcast(text: string, data: unknown, from: string): Promise<unknown> {
    const ctx = this.ctx;
    const receivers = await ctx.bridge.publishBroadcast(text, data, from);
    const fields = data === undefined ? { message: text } : { message: text, data };
    let agents = 0;
    for (const session of ctx.sessions.agentSessions()) {
      ctx.out.send(session, "broadcast", fields);
      agents += 1;
    }
    // Connections watching the fleet's events (dashboards) see broadcasts too.
    ctx.fanout.fleetEvent(() => ctx.frames.frame("broadcast", fields));
    return { ok: true, agents, redisSubscribers: receivers };
  }

  async direct(to: string, text: string, data: unknown, from: string): Promise<unknown> {
    const ctx = this.ctx;
    await ctx.bridge.publishDirect(to, text, data, from);
    const session = ctx.sessions.agent(to);
    if (session)
      ctx.out.send(
        session,
        "direct",
        data === undefined ? { to, message: text } : { to, message: text, data },
      );
    return { ok: true, delivered: session !== undefined };
  }

  /** Publishes on a named topic, live and kept. */
  async publishTopic(topic: string, text: string, data: unknown, from: string): Promise<unknown> {
    const published = await this.ctx.bridge.publishTopic(topic, text, data, from);
    return { ok: true, ...published };
  }

  /** A topic's kept messages after `since`. */
  async readTopic(topic: string, since: string | undefined, limit: number | undefined): Promise<unknown> {
    const ctx = this.ctx;
    return await readKept(
      ctx.redisClient,
      [ctx.keys.redis.topic(topic)],
      since ?? "0",
      limit ?? MAX_KEPT_READ,
    );
  }

  /**
   * An agent's kept inbox after `since`, with the kept broadcasts unless `broadcasts` is false. An agent
   * token reads only its own node's inbox.
   */
  async readInbox(
    principal: Principal,
    frame: {
      agentId: string;
      since?: string | undefined;
      limit?: number | undefined;
      broadcasts?: boolean | undefined;
    },
  ): Promise<unknown> {
    if (principal.nodeId !== undefined && principal.nodeId !== frame.agentId)
      throw forbidden(principal, "inbox.read", `it reads only ${principal.nodeId}'s inbox`);
    const keys = this.ctx.keys.redis;
    const streams = [keys.agentInbox(frame.agentId)];
    if (frame.broadcasts !== false) streams.push(keys.generalKept);
    return await readKept(this.ctx.redisClient, streams, frame.since ?? "0", frame.limit ?? MAX_KEPT_READ);
  }

  /** A task's stored output: from output seq `fromSeq` on, or its last `tail` chunks. */
  async readOutput(taskId: string, fromSeq: number | undefined, tail: number | undefined): Promise<unknown> {
    const task = await this.ctx.db.getTask(taskId);
    if (!task) throw taskNotFound(this.ctx, taskId);
    const stored = await this.ctx.db.readOutput(taskId, fromSeq ?? 0);
    const chunks = tail === undefined ? stored.slice(0, MAX_KEPT_READ) : stored.slice(-tail);
    const last = chunks.at(-1);
    return {
      taskId,
      state: task.state,
      chunks: chunks.map(({ seq, stream, data }) => ({ seq, stream, data })),
      nextSeq: last === undefined ? (fromSeq ?? 0) : last.seq + 1,
    };
  }

  async dlqList(): Promise<unknown[]> {
    const db = this.ctx.db;
    const tasks = await db.getTasks(await db.deadLetterIds(1000));
    return tasks.map((task) => {
      const attempts = parseJson<{ reason?: string }[]>(task.fields.attempts) ?? [];
      return {
        taskId: task.id,
        attempts: attempts.length,
        reason: attempts.at(-1)?.reason ?? "unknown",
        at: task.updatedAt,
      };
    });
  }

  /** One dead-lettered task's public record. */
  async dlqGet(taskId: string): Promise<unknown> {
    const task = await this.ctx.db.getTask(taskId);
    if (task?.state !== "dead_lettered")
      throw new FlotillaError("E_NOT_FOUND", `${taskId} is not dead-lettered`);
    return publicTask(task);
  }

  async dlqRetry(taskId: string): Promise<unknown> {
    const ctx = this.ctx;
    const placements = this.parts.placement;
    const task = await ctx.db.getTask(taskId);
    if (task?.state !== "dead_lettered")
      throw new FlotillaError("E_NOT_FOUND", `${taskId} is not dead-lettered`);
    const now = ctx.options.clock();
    const placement = placements.place(task.spec as TaskSpec, now);
    const result = await ctx.db.transition(taskId, {
      from: ["dead_lettered"],
      ...placements.change(placement, now),
      source: { kind: "zset", key: ctx.keys.store.deadLetters() },
      attemptDelta: -task.attempt,
      reason: "requeued from the dead-letter queue",
      now,
    });
    placements.settle(placement, result.ok);
    if (!result.ok) throw new FlotillaError("E_CONFLICT", `${taskId} changed meanwhile`);
    ctx.fanout.event(taskId, result.eventJson, false);
    return { ok: true, taskId, state: placement.kind === "node" ? "queued" : "waiting" };
  }

  async dlqPurge(taskId: string | undefined): Promise<unknown> {
    const db = this.ctx.db;
    const ids = taskId === undefined ? await db.deadLetterIds() : [taskId];
    let purged = 0;
    for (const id of ids) if (await db.purgeDeadLetter(id)) purged += 1;
    if (taskId !== undefined && purged === 0)
      throw new FlotillaError("E_NOT_FOUND", `${taskId} is not dead-lettered`);
    return { ok: true, purged };
  }
}
