/**
 * The coordinator's writes to Redis: every task state change is one Lua script (see `lua/`), sent through
 * the `ScriptRunner` (batched, safe to send twice, fenced by the leadership token), so a crash at any point
 * leaves Redis consistent and a restarted coordinator carries on from it. Reads are `TaskReads`
 * (`store-reads.ts`), which `TaskStore` extends; the record types are in `store-records.ts`.
 */
import { FlotillaError } from "@flotilla/protocol";
import { DEFAULT_MAX_OUTPUT_BYTES } from "./options.js";
import type { RedisClient } from "./redis-connection.js";
import { type ScriptName, ScriptRunner, type ScriptSafetyOptions } from "./scripts.js";
import { TaskReads } from "./store-reads.js";
import {
  decodeTask,
  FINISHED_STATES,
  type ForgetSelection,
  type Lease,
  type LeaseBatch,
  type StoredOutput,
  type StoreKeys,
  type SubmitTarget,
  type Transition,
  type TransitionResult,
} from "./store-records.js";
import { TaskTally } from "./task-tally.js";

export { CENSUS_STATES, TaskReads } from "./store-reads.js";
export * from "./store-records.js";

const TEMPLATE_ID = "{{id}}";
const EVENTS_CAP = 200;
const FINISHED: ReadonlySet<string> = new Set(FINISHED_STATES);

/**
 * The coordinator's view of Redis: every task state change is one Lua script (see `lua/`), so a crash at
 * any point leaves Redis consistent and a restarted coordinator can carry on from it.
 */
export class TaskStore extends TaskReads {
  private readonly scripts: ScriptRunner;
  /** Tasks by state and priority, kept from the scripts' replies (see `task-tally.ts`). */
  readonly tally = new TaskTally();
  private readonly taskTemplate: string;
  private readonly eventsTemplate: string;

  constructor(
    redis: RedisClient,
    keys: StoreKeys,
    private readonly options: {
      idempotencyTtlSeconds: number;
      outputCap: number;
      /** Request ids of the script batches (see {@link ScriptSafetyOptions}); tests fix them. */
      requestId?: () => string;
      maxOutputBytes?: number;
      /** The waiting list's cap: a submit that would wait beyond it is refused (E_QUEUE_FULL). */
      maxWaiting?: number;
      /** Replicas each script batch waits for before it is answered (see {@link ScriptSafetyOptions}). */
      waitReplicas?: number;
    },
  ) {
    super(redis, keys);
    const safety: ScriptSafetyOptions = {
      fenceKey: keys.fence(),
      replyKey: (requestId) => keys.reply(requestId),
    };
    if (options.requestId) safety.requestId = options.requestId;
    if (options.waitReplicas) safety.waitReplicas = options.waitReplicas;
    this.scripts = new ScriptRunner(redis, safety);
    this.taskTemplate = keys.task(TEMPLATE_ID);
    this.eventsTemplate = keys.taskEvents(TEMPLATE_ID);
  }

  /**
   * Runs one project script (`lua/project-*-10.lua`, see `projects/`) in this turn's batch, fenced and safe
   * to send twice like every other; it answers JSON text.
   */
  async projectScript(
    name: Extract<ScriptName, `project-${string}`>,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<string> {
    return String(await this.scripts.run(name, keys, args));
  }

  /** Runs `work` and sends the script calls it makes as one batch (see {@link ScriptRunner.together}). */
  together<T>(work: () => T): T {
    return this.scripts.together(work);
  }

  /** Loads the Lua scripts into Redis (after connecting, and after Redis restarts). */
  async preload(): Promise<void> {
    await this.scripts.preload();
  }

  /**
   * The fencing token that every later script call carries; Redis refuses the calls (`E_NOT_LEADER`)
   * once another coordinator has taken the leadership lease. `""` (the default): not fenced.
   */
  setFencingToken(token: string): void {
    this.scripts.setFencingToken(token);
  }

  /**
   * Persists a new task and queues it, or returns the task that already holds its idempotency key.
   * Rejects with `E_QUEUE_FULL` when the task would wait and the waiting list is full.
   */
  async submit(input: {
    id: string;
    fields: Record<string, string | number>;
    idempotencyKey?: string | undefined;
    target: SubmitTarget;
    score: number;
    event: string;
    now: number;
    expiresAt?: number | undefined;
    /** The `leased` event when the task is leased to `target.node` at once instead of queued. */
    leaseEvent?: string | undefined;
    /** Called once the script call is on its way to Redis (see {@link ScriptRunner.run}). */
    onWritten?: ((batchSize: number) => void) | undefined;
  }): Promise<{ duplicate: boolean; taskId: string; state: string }> {
    const { id, target } = input;
    const hasKey = input.idempotencyKey !== undefined;
    const queueKey = "node" in target ? this.keys.queue(target.node) : this.keys.waiting();
    const taskKey = this.keys.task(id);
    const args: (string | number)[] = [
      id,
      input.now,
      hasKey ? "1" : "0",
      this.options.idempotencyTtlSeconds,
      input.score,
      input.event,
      this.keys.taskUpdates(),
      this.taskTemplate,
      input.expiresAt ?? "",
      input.leaseEvent ?? "",
      "node" in target || this.options.maxWaiting === undefined ? "" : this.options.maxWaiting,
    ];
    // Field, value pairs straight onto the arguments (no entries arrays, no second list to spread).
    for (const field in input.fields) args.push(field, input.fields[field] as string | number);
    const reply = (await this.scripts.run(
      "submit-7",
      [
        taskKey,
        hasKey ? this.keys.idempotency(input.idempotencyKey as string) : taskKey,
        this.keys.allTasks(),
        queueKey,
        this.keys.taskEvents(id),
        this.keys.expiring(),
        input.leaseEvent !== undefined && "node" in target ? this.keys.running(target.node) : taskKey,
      ],
      args,
      input.onWritten,
    )) as [number, string, string?];
    if (reply[0] === 2) {
      throw new FlotillaError(
        "E_QUEUE_FULL",
        `the waiting list is full (${this.options.maxWaiting} tasks no node can take yet); submit again later`,
      );
    }
    if (reply[0] !== 0) return { duplicate: true, taskId: reply[1], state: reply[2] ?? "unknown" };
    const state = String(input.fields.state);
    this.tally.entered(state, String(input.fields.priority ?? "normal"));
    return { duplicate: false, taskId: id, state };
  }

  /** Leases up to `count` queued tasks of `node`, in queue order; `remaining` is what the queue then held. */
  async lease(node: string, count: number, now: number): Promise<LeaseBatch> {
    if (count <= 0) return { leases: [], remaining: await this.redis.zcard(this.keys.queue(node)) };
    const flat = (await this.scripts.run(
      "lease-2",
      [this.keys.queue(node), this.keys.running(node)],
      [node, count, now, this.taskTemplate, this.eventsTemplate, this.keys.taskUpdates(), EVENTS_CAP],
    )) as (string | number)[];
    const leases: Lease[] = [];
    for (let i = 0; i + 6 < flat.length; i += 7) {
      leases.push({
        taskId: String(flat[i]),
        epoch: Number(flat[i + 1]),
        attempt: Number(flat[i + 2]),
        specJson: String(flat[i + 3]),
        eventJson: String(flat[i + 4]),
        seqFrom: Number(flat[i + 5]) || 0,
      });
      this.tally.moved("queued", "leased", String(flat[i + 6]));
    }
    return { leases, remaining: Number(flat[flat.length - 1]) };
  }

  /** Applies one fenced state change. */
  async transition(taskId: string, change: Transition): Promise<TransitionResult> {
    const taskKey = this.keys.task(taskId);
    const target =
      change.target ??
      (FINISHED.has(change.to) ? { key: this.keys.finished(), score: change.now } : undefined);
    const args: (string | number)[] = [
      change.expectedEpoch ?? "",
      `,${change.from.join(",")},`,
      change.to,
      change.node === undefined ? "" : change.node === null ? "-" : change.node,
      target ? target.score : "",
      change.bumpEpoch ? "1" : "0",
      change.attemptDelta ?? 0,
      change.now,
      change.reason ?? "",
      this.keys.taskUpdates(),
      change.source?.kind ?? "none",
      change.attemptRecord ? JSON.stringify(change.attemptRecord) : "",
      EVENTS_CAP,
      change.returnTask ? (change.knownEvents === undefined ? "1" : `=${change.knownEvents}`) : "0",
    ];
    const fields = change.fields;
    if (fields) for (const field in fields) args.push(field, fields[field] as string | number);
    const reply = (await this.scripts.run(
      "transition-4",
      [taskKey, change.source?.key ?? taskKey, target?.key ?? taskKey, this.keys.taskEvents(taskId)],
      args,
    )) as (number | string | string[])[];
    switch (reply[0]) {
      case 1: {
        this.tally.moved(String(reply[4]), change.to, String(reply[5]));
        const result: TransitionResult = {
          ok: true,
          epoch: Number(reply[1]),
          attempt: Number(reply[2]),
          eventJson: String(reply[3]),
        };
        if (typeof reply[6] === "string")
          result.task = decodeTask(JSON.parse(reply[6]) as Record<string, string>);
        return result;
      }
      case -1:
        return { ok: false, reason: "stale_epoch", epoch: Number(reply[1]) };
      case -2:
        return { ok: false, reason: "wrong_state", state: String(reply[1]) };
      default:
        return { ok: false, reason: "not_found" };
    }
  }

  /**
   * Appends output chunks of the run holding `epoch`, up to the task's byte cap; `undefined` when that run
   * lost its lease. Chunks after one that was cut are not stored.
   */
  async appendOutput(
    taskId: string,
    epoch: number,
    chunks: readonly { seq: number; stream: string; data: string }[],
  ): Promise<StoredOutput | undefined> {
    const args: (string | number)[] = [
      epoch,
      this.options.outputCap,
      this.options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
    ];
    for (const chunk of chunks) args.push(chunk.seq, chunk.stream, chunk.data);
    const reply = await this.scripts.run(
      "output-2",
      [this.keys.task(taskId), this.keys.taskOutput(taskId)],
      args,
    );
    if (!Array.isArray(reply)) return undefined;
    const stored: StoredOutput = { whole: Number(reply[0]) };
    if (typeof reply[1] === "string") stored.cut = reply[1];
    return stored;
  }

  /** Moves queued tasks from `victim` to `thief`, keeping their order; returns the ids that moved. */
  async steal(victim: string, thief: string, taskIds: readonly string[], now: number): Promise<string[]> {
    if (taskIds.length === 0) return [];
    const moved = (await this.scripts.run(
      "steal-2",
      [this.keys.queue(victim), this.keys.queue(thief)],
      [thief, now, this.taskTemplate, ...taskIds],
    )) as string[];
    return moved.map(String);
  }

  /**
   * Deletes a dead-lettered task: its hash, output and events. False when it is not in the dead-letter
   * queue (never was, or was requeued or purged meanwhile), and then nothing is deleted.
   */
  async purgeDeadLetter(taskId: string): Promise<boolean> {
    const { forgotten } = await this.forget(this.keys.deadLetters(), ["dead_lettered"], { ids: [taskId] });
    return forgotten > 0;
  }

  /**
   * Deletes ended tasks picked from `index` (the finished index or the dead-letter queue) with all that
   * names them, in one script (`lua/forget-3.lua`): those of `states` only. `more` says a batch was full.
   */
  async forget(
    index: string,
    states: readonly string[],
    selection: ForgetSelection,
  ): Promise<{ forgotten: number; more: boolean }> {
    const picking = "ids" in selection;
    const args: (string | number)[] = [
      picking ? "" : (selection.cutoff ?? ""),
      picking ? "" : (selection.keep ?? ""),
      picking ? selection.ids.length : selection.batch,
      this.taskTemplate,
      this.eventsTemplate,
      this.keys.taskOutput(TEMPLATE_ID),
      this.keys.idempotency(TEMPLATE_ID),
      `,${states.join(",")},`,
    ];
    if (picking) args.push(...selection.ids);
    const reply = (await this.scripts.run(
      "forget-3",
      [index, this.keys.allTasks(), this.keys.expiring()],
      args,
    )) as [number, number];
    if (index === this.keys.deadLetters()) this.tally.forgotten("dead_lettered", Number(reply[0]));
    return { forgotten: Number(reply[0]), more: Number(reply[1]) === 1 };
  }
}
