/**
 * Taking a task in. `Submitter` validates a spec against the clock, places it, writes it with one submit
 * script and, when its node has a free slot and nothing queued, leases it in the same script and sends the
 * assignment at once, possibly before Redis has answered (an early lease: see `mayDispatchEarly`). It owns
 * the task id counter and the early-lease state (`dispatchEarly`, `sentEarly`); of a node it changes
 * `inflight`, `leasing`, `queued` and `placing` for tasks leased in their submit. Clients' `task.submit`
 * frames, `task.submitMany` batches and `POST /v1/tasks` come here.
 */
import {
  decodeRecord,
  FlotillaError,
  isFlotillaError,
  type SubmitManyOutcome,
  type TaskSpec,
  TaskSpecSchema,
} from "@flotilla/protocol";
import type { CoordinatorContext, CoordinatorParts } from "./context.js";
import { type FleetNode, inQueue } from "./fleet.js";
import { newLease } from "./lease-table.js";
import { DEFAULT_FAULT_ATTEMPTS } from "./retry-policy.js";
import { hasSecrets } from "./secrets.js";
import type { Session } from "./transport/session.js";

/** What a submit answers. */
export interface Accepted {
  taskId: string;
  duplicate: boolean;
  state: string;
}

/** A node chosen to lease a task in its submit script, and its agent's connection. */
interface DirectLease {
  node: FleetNode;
  session: Session;
}

/** Persists new tasks and leases them in the same script when their node has room. */
export class Submitter {
  /** Whether a lease may go to its agent before Redis has answered its submit: off after a failed write. */
  private dispatchEarly = true;
  /** Leases sent to their agent whose submit Redis has not answered yet (at most one). */
  private sentEarly = 0;
  private taskCounter = 0;

  constructor(
    private readonly ctx: CoordinatorContext,
    private readonly parts: Pick<CoordinatorParts, "placement" | "dispatch" | "alerts">,
  ) {}

  private newTaskId(now: number): string {
    this.taskCounter = (this.taskCounter + 1) % 1_679_616;
    const random = Math.floor(this.ctx.options.random() * 1_679_616);
    return `t-${now.toString(36)}-${this.taskCounter.toString(36).padStart(4, "0")}${random.toString(36).padStart(4, "0")}`;
  }

  /**
   * Validates, persists (one Lua script) and queues a task; resolves only once Redis has it. When the
   * chosen node has a free slot and nothing queued, the same script leases it and the assignment goes out
   * at once. `waiter` is a connection to send `task.done` to when the task ends.
   */
  async submit(spec: TaskSpec, submitter: string, waiter?: Session, freshKey = false): Promise<Accepted> {
    const ctx = this.ctx;
    if (ctx.stopping)
      throw new FlotillaError("E_DRAINING", "the coordinator is shutting down; submit again shortly");
    const now = ctx.options.clock();
    if (spec.deadlineAt !== undefined && spec.deadlineAt <= now) {
      throw new FlotillaError("E_ADMISSION", "the deadline has already passed", {
        details: { deadlineAt: spec.deadlineAt },
      });
    }
    // Fair sharing and the record name the token that submitted, whatever the spec says.
    spec.submitter = submitter;
    const id = this.newTaskId(now);
    // The spec as the agent gets it; Redis gets its secrets sealed (before anything is counted, as
    // sealing throws when the key file cannot be read).
    const specJson = JSON.stringify(spec);
    const storedSpecJson = hasSecrets(spec) ? JSON.stringify(ctx.secrets.seal(id, spec)) : specJson;
    const placements = this.parts.placement;
    const placement = placements.place(spec, now);
    if (placement.kind === "full") {
      throw new FlotillaError(
        "E_QUEUE_FULL",
        `the fleet is saturated: ${placement.reason}; submit again later`,
      );
    }
    const maxWaitMs = spec.maxWaitMs ?? ctx.options.defaultMaxWaitMs;
    const fields: Record<string, string | number> = {
      id,
      spec: storedSpecJson,
      state: placement.kind === "node" ? "queued" : "waiting",
      priority: spec.priority,
      epoch: 0,
      attempt: 0,
      maxAttempts: spec.retry?.maxAttempts ?? DEFAULT_FAULT_ATTEMPTS,
      createdAt: now,
      updatedAt: now,
      submitter,
      maxWaitAt: now + maxWaitMs,
    };
    if (spec.ttlMs !== undefined) fields.expiresAt = now + spec.ttlMs;
    const event: Record<string, unknown> = { taskId: id, state: fields.state, at: now, attempt: 0, epoch: 0 };
    // The waiting list is ordered by when each task's wait runs out (see waiting.ts).
    let score = now + maxWaitMs;
    if (placement.kind === "node") {
      fields.node = placement.node;
      fields.queuedAt = now;
      fields.score = placement.score;
      score = placement.score;
      event.node = placement.node;
    } else {
      fields.waitingReason = placement.reason;
      fields.waitingIn = "waiting";
      event.reason = placement.reason;
    }
    const eventJson = JSON.stringify(event);
    const direct = placement.kind === "node" ? this.leaseAtOnce(placement.node) : undefined;
    let leaseEvent: string | undefined;
    if (direct) {
      fields.state = "leased";
      fields.epoch = 1;
      fields.attempt = 1;
      fields.leasedAt = now;
      leaseEvent = JSON.stringify({
        taskId: id,
        state: "leased",
        previous: "queued",
        at: now,
        node: direct.node.id,
        attempt: 1,
        epoch: 1,
      });
    }
    if (waiter) ctx.fanout.await(waiter, id);
    let early: { confirm: () => void } | undefined;
    const write = ctx.db.submit({
      id,
      fields,
      idempotencyKey: spec.idempotencyKey,
      target: placement.kind === "node" ? { node: placement.node } : { waitingReason: placement.reason },
      score,
      event: eventJson,
      now,
      expiresAt: spec.ttlMs === undefined ? undefined : now + spec.ttlMs,
      leaseEvent,
      // Decided when the batch is written, from what went with it (see mayDispatchEarly).
      onWritten:
        direct && (spec.idempotencyKey === undefined || freshKey)
          ? (batchSize: number) => {
              if (batchSize === 1 && this.mayDispatchEarly())
                early = this.sendEarly(direct, id, spec, specJson, now);
            }
          : undefined,
    });
    ctx.underway.enter();
    let accepted: Accepted;
    try {
      accepted = await write;
    } catch (error) {
      if (waiter) ctx.fanout.stopAwaiting(waiter, id);
      if (direct) releaseSlot(direct.node);
      if (direct) direct.node.leasing -= 1;
      placements.settle(placement, false);
      this.dispatchEarly = false;
      if (direct && early) this.withdrawEarly(direct, id, early);
      throw error;
    } finally {
      ctx.underway.leave();
    }
    this.dispatchEarly = true;
    // ioredis writes an unanswered command again after a reconnect: the script then finds the task this
    // very submit wrote, which is its own success, not a duplicate (left as one, a task leased here
    // would sit in Redis with no agent told to run it).
    if (accepted.duplicate && accepted.taskId === id)
      accepted = { taskId: id, duplicate: false, state: accepted.state };
    ctx.metrics.submitted.inc({ priority: spec.priority, duplicate: String(accepted.duplicate) });
    if (accepted.duplicate && waiter) ctx.fanout.stopAwaiting(waiter, id);
    if (direct) direct.node.leasing -= 1;
    if (!direct || accepted.duplicate) {
      // An older task holds the key: a lease sent ahead (which a fresh key rules out) is taken back.
      if (direct && early) this.withdrawEarly(direct, id, early);
      if (direct) releaseSlot(direct.node);
      placements.settle(placement, !accepted.duplicate);
      if (!accepted.duplicate) {
        this.parts.dispatch.queuedAt(id, now);
        ctx.fanout.event(id, eventJson, false);
      }
      return accepted;
    }
    // Leased in the same script: the task never sat in the queue, so a lease that was out meanwhile has
    // nothing of it to count (`settled` is for placements that went to the queue).
    direct.node.queued = Math.max(0, direct.node.queued - 1);
    direct.node.placing = Math.max(0, direct.node.placing - 1);
    if (early) this.sentEarly -= 1;
    else this.handOver(direct, id, spec, specJson, now, undefined);
    const lease = ctx.leases.get(id);
    if (waiter && lease?.epoch === 1) {
      // What the submit script wrote (nothing changes `fields` after it was sent), and the two events it
      // recorded (queued, leased).
      lease.record = { hash: fields, events: 2 };
    }
    ctx.metrics.dispatchLatency.observe(0);
    ctx.metrics.queueLatency.record(0);
    this.parts.alerts.recordStart(0, now);
    ctx.fanout.event(id, eventJson, false);
    ctx.fanout.event(id, leaseEvent as string, false);
    accepted.state = "leased";
    early?.confirm();
    return accepted;
  }

  /**
   * Submits the specs of one `task.submitMany`. Each is validated on its own (its schema, its deadline);
   * the valid ones go through {@link submit} within one script batch: one command to Redis for all. With
   * `allOrNothing`, one invalid spec refuses them all (`E_SCHEMA` listing every invalid index) before
   * anything is written. The outcomes are in the order of `specs`; a spec refused later (the fleet is
   * saturated, Redis failed) has its error there, whatever `allOrNothing` says, as the others are written.
   */
  async submitMany(
    specs: readonly unknown[],
    submitter: string,
    allOrNothing: boolean,
  ): Promise<SubmitManyOutcome[]> {
    const now = this.ctx.options.clock();
    const checked = specs.map((raw): TaskSpec | FlotillaError => {
      const parsed = decodeRecord(TaskSpecSchema, raw);
      if (!parsed.ok) return new FlotillaError("E_SCHEMA", parsed.error.message.replace(/^record: /, ""));
      if (parsed.value.deadlineAt !== undefined && parsed.value.deadlineAt <= now)
        return new FlotillaError("E_ADMISSION", "the deadline has already passed");
      return parsed.value;
    });
    const invalid = checked.flatMap((spec, index) =>
      spec instanceof FlotillaError ? [{ index, code: spec.code, message: spec.message }] : [],
    );
    if (allOrNothing && invalid.length > 0) {
      throw new FlotillaError(
        "E_SCHEMA",
        `${invalid.length} of ${specs.length} specs are invalid, so none was submitted (all or nothing)`,
        { details: { invalid } },
      );
    }
    const pending = this.ctx.db.together(() =>
      checked.map((spec) =>
        spec instanceof FlotillaError ? Promise.reject(spec) : this.submit(spec, submitter),
      ),
    );
    return (await Promise.allSettled(pending)).map((settled): SubmitManyOutcome => {
      if (settled.status === "fulfilled") return { ok: true, ...settled.value };
      const error = settled.reason;
      return isFlotillaError(error)
        ? { ok: false, code: error.code, message: error.message }
        : { ok: false, code: "E_INTERNAL", message: "internal error" };
    });
  }

  /**
   * Whether a task leased in its submit script may go to its agent as soon as the script is written, not
   * once Redis has answered: Redis runs that script before anything the run's reports lead to (they wait
   * for the answer here, and go over the same connection), so the agent and Redis work at once and one
   * Redis round trip leaves the critical path of a short task. It is for tasks whose idempotency key
   * cannot name an older task (none, or one its client made for this submit and sends for the first time:
   * `freshKey`; otherwise the script may find an older task, and the run must not start), for one task at a
   * time, and stops after a failed write until a write succeeds again: a failed script means a run that
   * was started for nothing, stopped at once (a fence), and these bound how many. And it is only for a
   * submit that is the one call of its script batch, where it pays: when the coordinator is busy, the
   * round trip saved is shared by a batch's worth of tasks anyway, while an early lease costs a write
   * to its agent of its own (with early leases from busy batches too, call throughput fell by 4-20%).
   */
  private mayDispatchEarly(): boolean {
    return this.dispatchEarly && this.sentEarly === 0;
  }

  /** Records the first lease on a task leased in its submit script and sends it to the agent. */
  private handOver(
    direct: DirectLease,
    id: string,
    spec: TaskSpec,
    specJson: string,
    now: number,
    confirming: Promise<void> | undefined,
  ): void {
    this.ctx.leases.add(id, newLease(direct.node.id, 1, 1, spec, now, undefined, confirming));
    this.ctx.out.sendRaw(direct.session, this.ctx.frames.assign(id, 1, 1, specJson, now));
  }

  /** Sends a lease whose submit script is on its way to Redis; see {@link mayDispatchEarly}. */
  private sendEarly(
    direct: DirectLease,
    id: string,
    spec: TaskSpec,
    specJson: string,
    now: number,
  ): { confirm: () => void } {
    let settle: () => void = () => {};
    const confirming = new Promise<void>((resolve) => {
      settle = resolve;
    });
    this.sentEarly += 1;
    this.handOver(direct, id, spec, specJson, now, confirming);
    // This runs while the script batch is written, itself the last thing of the turn: the outbox's own
    // flush would wait for the next turn, which starts by waiting for the very answer this saves.
    this.ctx.out.flush(direct.session);
    return {
      // After the caller has sent its answer (it does so in this same turn): the agent's reports on the
      // run come after the submit's.
      confirm: () => {
        const lease = this.ctx.leases.get(id);
        if (lease?.confirming === confirming) lease.confirming = undefined;
        setImmediate(settle);
      },
    };
  }

  /** Takes back a lease sent early whose submit failed or found an older task: the agent stops the run. */
  private withdrawEarly(direct: DirectLease, id: string, early: { confirm: () => void }): void {
    this.sentEarly -= 1;
    this.ctx.leases.withdrawEarly(id);
    this.ctx.out.fence(direct.session, id, 1);
    early.confirm();
  }

  /**
   * Whether a task placed on `nodeId` can be leased in its submit script: the agent is connected and
   * healthy, it has room (counting what is being leased to it), and nothing is queued for it ahead of
   * this task, so queue order and the node's capacity hold. Reserves the room when it says yes.
   */
  private leaseAtOnce(nodeId: string): DirectLease | undefined {
    const ctx = this.ctx;
    const node = ctx.nodes.get(nodeId);
    const session = ctx.sessions.agent(nodeId);
    if (!node || !session || node.health !== "healthy" || node.draining || ctx.stopping) return undefined;
    // `place` already counted this task in `queued`; others counted there that are being leased in their
    // own submit scripts are not in the queue, and reach the agent before this one. A dispatch under way
    // has its leases reserved: it pops only what was queued before this script runs.
    if (inQueue(node) > 1 || node.inflight + node.reserved >= this.parts.dispatch.capacity(node))
      return undefined;
    if (ctx.breakers.admits(nodeId, ctx.options.clock()) !== "all") return undefined;
    node.inflight += 1;
    node.leasing += 1;
    return { node, session };
  }
}

/** Gives back the slot a lease in the submit script had reserved. */
function releaseSlot(node: FleetNode): void {
  node.inflight = Math.max(0, node.inflight - 1);
}
