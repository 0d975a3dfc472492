/**
 * What agents report about the runs they were leased: accept, reject, output, progress and finish. Each
 * report is checked against its lease (epoch and node) and a stale one is fenced: the agent is told to
 * stop the run. `RunReports` writes each change with one transition script, ends leases in the lease table,
 * asks the retry policy what follows a failed run, reports node faults, and tells the fan-out. It keeps no
 * state of its own; of a node it changes `stats.finished` and `ewmaRunMs` (the smoothed run time that
 * holding ahead is sized by).
 */
import type { MessageFields, MessageOf, TaskSpec } from "@flotilla/protocol";
import { forbidden } from "./access.js";
import { type CoordinatorContext, type CoordinatorParts, TERMINAL } from "./context.js";
import { stopHoldingAhead } from "./fleet.js";
import { newLease } from "./lease-table.js";
import { type RetryDecision, retryDecision } from "./retry-policy.js";
import { applyTransition, decodeTask, type Transition } from "./store.js";
import type { Session } from "./transport/session.js";

const FINAL: RetryDecision = { action: "final" };

/** Applies agents' reports on their runs. */
export class RunReports {
  constructor(
    private readonly ctx: CoordinatorContext,
    private readonly parts: Pick<CoordinatorParts, "placement" | "dispatch" | "faults" | "events">,
  ) {}

  async accept(session: Session, accept: MessageOf<"task.accept">): Promise<void> {
    const ctx = this.ctx;
    const pending = ctx.leases.confirming(accept.taskId);
    if (pending) await pending;
    await this.refuseForeign(session, accept);
    const now = ctx.options.clock();
    const stamp = Date.parse(accept.timestamp);
    session.clock.observe(stamp, now);
    const known = ctx.leases.get(accept.taskId);
    // An agent may send the accept a little after the start: it says how long the run has been going.
    const runningFor = accept.runningForMs ?? 0;
    const startedAt = Math.max(
      known?.epoch === accept.epoch ? known.leasedAt : 0,
      session.clock.toLocal(stamp - runningFor, now, now - runningFor),
    );
    const change: Transition = {
      expectedEpoch: accept.epoch,
      from: ["leased"],
      to: "running",
      fields: { startedAt },
      now,
    };
    // The lease's copy of the record stays in step: Redis sends the record if it was changed elsewhere.
    const record = known?.epoch === accept.epoch ? known.record : undefined;
    if (record) {
      change.returnTask = true;
      change.knownEvents = record.events;
    }
    const result = await ctx.db.transition(accept.taskId, change);
    if (!result.ok) {
      if (result.reason === "stale_epoch" || result.reason === "not_found")
        ctx.out.fence(session, accept.taskId, accept.epoch);
      else if (result.state !== "running") ctx.out.fence(session, accept.taskId, accept.epoch);
      return;
    }
    const lease = ctx.leases.get(accept.taskId);
    if (lease && lease.epoch === accept.epoch) {
      lease.startedAt = startedAt;
      // A copy found out of date is dropped: the finish reads the record back.
      if (record && lease.record === record) {
        lease.record = result.task
          ? undefined
          : { hash: applyTransition(record.hash, change, result), events: record.events + 1 };
      }
    }
    ctx.fanout.event(accept.taskId, result.eventJson, false);
  }

  async reject(session: Session, reject: MessageOf<"task.reject">): Promise<void> {
    const ctx = this.ctx;
    const pending = ctx.leases.confirming(reject.taskId);
    if (pending) await pending;
    await this.refuseForeign(session, reject);
    const nodeId = session.nodeId as string;
    const now = ctx.options.clock();
    const task = await ctx.db.getTask(reject.taskId);
    if (!task || task.epoch !== reject.epoch || task.node !== nodeId) return;
    const node = ctx.nodes.get(nodeId);
    if (reject.code === "E_QUEUE_FULL" && node !== undefined && node.prefetch > 0) {
      stopHoldingAhead(node, ctx.options.holdAheadMs);
    }
    const exclude = reject.code === "E_QUEUE_FULL" ? undefined : nodeId;
    const placements = this.parts.placement;
    const placement = placements.place(task.spec as TaskSpec, now, exclude);
    const result = await ctx.db.transition(reject.taskId, {
      expectedEpoch: reject.epoch,
      from: ["leased", "running"],
      ...placements.change(placement, now),
      source: { kind: "set", key: ctx.keys.store.running(nodeId) },
      bumpEpoch: true,
      attemptDelta: -1,
      reason: `rejected by ${nodeId}: ${reject.reason}`,
      now,
    });
    ctx.leases.release(reject.taskId, reject.epoch);
    placements.settle(placement, result.ok);
    if (result.ok) ctx.fanout.event(reject.taskId, result.eventJson, false);
    if (reject.code === "E_HANDLER" || reject.code === "E_SPAWN")
      this.parts.faults.fault(nodeId, now, reject.reason);
  }

  async output(session: Session, output: MessageOf<"task.output">): Promise<void> {
    const ctx = this.ctx;
    const pending = ctx.leases.confirming(output.taskId);
    if (pending) await pending;
    await this.refuseForeign(session, output);
    const stored = await ctx.db.appendOutput(output.taskId, output.epoch, [output]);
    if (!stored) {
      ctx.out.fence(session, output.taskId, output.epoch);
      return;
    }
    // Watchers get what was stored: past the output cap nothing, and the cut chunk with its marker.
    const data = stored.whole === 1 ? output.data : stored.cut;
    if (data === undefined) return;
    ctx.fanout.output(output.taskId, () =>
      ctx.frames.frame("task.output", {
        taskId: output.taskId,
        epoch: output.epoch,
        stream: output.stream,
        seq: output.seq,
        data,
      }),
    );
  }

  async progress(session: Session, progress: MessageOf<"task.progress">): Promise<void> {
    await this.refuseForeign(session, progress);
    const frames = this.ctx.frames;
    this.ctx.fanout.progress(progress.taskId, () => {
      const fields: MessageFields<"task.progress"> = { taskId: progress.taskId, epoch: progress.epoch };
      if (progress.percent !== undefined) fields.percent = progress.percent;
      if (progress.message !== undefined) fields.message = progress.message;
      return frames.frame("task.progress", fields);
    });
  }

  /**
   * Refuses (`E_FORBIDDEN`, counted in `flotilla_foreign_frames_total`) a report on a run the lease table
   * does not know, when Redis records that run on another node under the report's epoch or a newer one:
   * between a takeover and the hello of the node holding the lease, the table cannot say whose it is
   * (the transport checks the leases it knows). One read of the task's node and epoch, on that path only;
   * a report with an older epoch is left to the handler, which fences it as stale.
   */
  private async refuseForeign(session: Session, report: { taskId: string; epoch: number }): Promise<void> {
    const ctx = this.ctx;
    if (ctx.leases.has(report.taskId)) return;
    const [node, epoch] = await ctx.redisClient.hmget(ctx.keys.store.task(report.taskId), "node", "epoch");
    if (node === null || node === session.nodeId || report.epoch < Number(epoch ?? 0)) return;
    ctx.metrics.foreignFrames.inc();
    ctx.metrics.violations.inc({ code: "E_FORBIDDEN" });
    throw forbidden(session.principal, `report on ${report.taskId}`, "it is leased to another node");
  }

  async finish(session: Session, finish: MessageOf<"task.finish">): Promise<void> {
    const ctx = this.ctx;
    const pending = ctx.leases.confirming(finish.taskId);
    if (pending) await pending;
    await this.refuseForeign(session, finish);
    const nodeId = session.nodeId as string;
    const now = ctx.options.clock();
    const stamp = Date.parse(finish.timestamp);
    session.clock.observe(stamp, now);
    let lease = ctx.leases.get(finish.taskId);
    const record = lease?.epoch === finish.epoch ? lease.record : undefined;
    if (!lease || lease.epoch !== finish.epoch) {
      const task = await ctx.db.getTask(finish.taskId);
      if (!task || task.epoch !== finish.epoch || task.node !== nodeId) {
        ctx.out.fence(session, finish.taskId, finish.epoch);
        return;
      }
      lease = newLease(
        nodeId,
        task.epoch,
        task.attempt,
        task.spec as TaskSpec,
        Number(task.fields.leasedAt ?? now),
        task.fields.startedAt ? Number(task.fields.startedAt) : undefined,
        undefined,
      );
    }
    const spec = lease.spec;
    const nodeFault = finish.error?.code === "E_SPAWN";
    const decision =
      finish.outcome !== "failed"
        ? FINAL
        : retryDecision(
            spec,
            lease.attempt,
            nodeFault ? { kind: "node_fault" } : { kind: "exit", exitCode: finish.exitCode },
            ctx.options.random,
          );
    // Dated by the agent's clock (the finish may have waited behind other work on its way here), and
    // never before the recorded start.
    const finishedAt = Math.max(lease.startedAt ?? 0, session.clock.toLocal(stamp, now, now));
    const fields: Record<string, string | number> = { finishedAt };
    // A run that ended before its agent sent the accept went straight from leased to its end. (Set one by
    // one: in V8, properties after a spread in one literal take a slow path.)
    if (lease.startedAt === undefined)
      fields.startedAt = Math.max(lease.leasedAt, finishedAt - finish.durationMs);
    fields.exitCode = finish.exitCode ?? "";
    fields.signal = finish.signal ?? "";
    fields.durationMs = finish.durationMs;
    if (finish.usage) fields.usage = JSON.stringify(finish.usage);
    if (finish.result !== undefined) fields.result = JSON.stringify(finish.result);
    if (finish.error) fields.error = JSON.stringify(finish.error);
    // Why a run did not succeed (a success records no reason).
    const reason =
      finish.outcome === "succeeded"
        ? ""
        : (finish.error?.message ??
          (finish.exitCode !== null ? `exit code ${finish.exitCode}` : `signal ${finish.signal}`));
    const source = { kind: "set" as const, key: ctx.keys.store.running(nodeId) };
    let change: Transition;
    if (decision.action === "retry") {
      const backoff = decision.backoffMs;
      change = {
        expectedEpoch: finish.epoch,
        from: ["leased", "running"],
        to: "waiting",
        node: null,
        source,
        target: { key: ctx.keys.store.delayed(), score: now + backoff },
        fields: {
          waitingReason: `retrying in ${backoff} ms after: ${reason}`,
          waitingIn: "delayed",
          avoidNode: nodeId,
        },
        attemptRecord: { attempt: lease.attempt, node: nodeId, reason, at: now },
        reason: `attempt ${lease.attempt} failed (${reason}); retrying`,
        now,
      };
    } else {
      const to = decision.action === "dead_letter" ? "dead_lettered" : finish.outcome;
      change = {
        expectedEpoch: finish.epoch,
        from: ["leased", "running"],
        to,
        source,
        fields,
        reason,
        returnTask: ctx.fanout.awaited(finish.taskId),
        now,
      };
      if (to === "dead_lettered") {
        change.target = { key: ctx.keys.store.deadLetters(), score: now };
        change.attemptRecord = { attempt: lease.attempt, node: nodeId, reason, at: now };
      } else if (change.returnTask && record) {
        change.knownEvents = record.events;
      }
    }
    const result = await ctx.db.transition(finish.taskId, change);
    // Redis sent the record only if its copy differs from ours; otherwise ours, with this change, is it.
    if (result.ok && !result.task && change.knownEvents !== undefined && record) {
      result.task = decodeTask(applyTransition(record.hash, change, result));
    }
    if (!result.ok) {
      if (result.reason === "stale_epoch") ctx.out.fence(session, finish.taskId, finish.epoch);
      ctx.leases.release(finish.taskId, finish.epoch);
      return;
    }
    ctx.leases.release(finish.taskId, finish.epoch);
    const node = ctx.nodes.get(nodeId);
    if (node) {
      node.stats.finished += 1;
      if (finish.outcome === "succeeded" || finish.outcome === "failed") {
        node.ewmaRunMs =
          node.ewmaRunMs === undefined ? finish.durationMs : node.ewmaRunMs * 0.8 + finish.durationMs * 0.2;
      }
    }
    if (nodeFault) this.parts.faults.fault(nodeId, now, reason);
    else this.parts.faults.success(nodeId, now);
    ctx.metrics.finished.inc({ outcome: change.to });
    if (change.to === "waiting") ctx.metrics.retries.inc();
    ctx.fanout.event(finish.taskId, result.eventJson, TERMINAL.has(change.to), result.task);
    if (nodeFault || change.to === "dead_lettered") {
      await this.parts.events.taskFailure(finish.taskId, nodeId, reason, now);
    }
    await this.parts.dispatch.dispatch(nodeId);
  }
}
