import { FlotillaError, TERMINAL_STATES } from "@flotilla/protocol";
import type { Redis } from "ioredis";
import { DEFAULT_MAX_OUTPUT_BYTES } from "./options.js";
import { ScriptRunner, type ScriptSafetyOptions } from "./scripts.js";

/** Every Redis name the coordinator uses, with the fleet's optional prefix applied. */
export interface StoreKeys {
  task(id: string): string;
  taskEvents(id: string): string;
  taskOutput(id: string): string;
  idempotency(key: string): string;
  queue(node: string): string;
  running(node: string): string;
  waiting(): string;
  delayed(): string;
  deadLetters(): string;
  /** Ended tasks other than dead-lettered ones, by end time (see `retention.ts`). */
  finished(): string;
  allTasks(): string;
  expiring(): string;
  taskUpdates(): string;
  /** The fleet's fencing token (see `leadership.ts`). */
  fence(): string;
  /** Where the reply of a script batch with this request id is kept for a resend. */
  reply(requestId: string): string;
}

/** A task as the store keeps it: one Redis hash of flat string fields, decoded. */
export interface StoredTask {
  id: string;
  spec: unknown;
  state: string;
  priority: string;
  epoch: number;
  attempt: number;
  maxAttempts: number;
  node?: string;
  createdAt: number;
  updatedAt: number;
  score: number;
  fields: Record<string, string>;
}

/** One lease handed to an agent: run task `id` under fencing token `epoch`. */
export interface Lease {
  taskId: string;
  epoch: number;
  attempt: number;
  specJson: string;
  /** The `leased` state-change event as stored (JSON). */
  eventJson: string;
  /** The `seq` the run's output starts at: one past what earlier attempts stored. */
  seqFrom: number;
}

/** One stored output chunk; `epoch` is that of the run that wrote it (absent in output stored before it was kept). */
export interface StoredChunk {
  seq: number;
  stream: "stdout" | "stderr";
  data: string;
  epoch?: number;
}

/** What one lease script did: the tasks it leased, and how many it left in the queue. */
export interface LeaseBatch {
  leases: Lease[];
  remaining: number;
}

/** Tasks by state, and those not yet leased by priority (see {@link TaskStore.census}). */
export interface TaskCensus {
  states: Record<string, number>;
  priorities: Record<string, number>;
}

/** Task hashes read per pipeline by a census. */
const CENSUS_CHUNK = 1000;
/** The states a census reports: every unfinished one, and dead-lettered (ended ones are counters). */
export const CENSUS_STATES = ["waiting", "queued", "leased", "running", "dead_lettered"] as const;
/** Those read from each listed task's hash (dead-lettered ones are the size of their queue). */
const LISTED_STATES = new Set<string>(CENSUS_STATES.filter((state) => state !== "dead_lettered"));

/** Where a submitted task goes first. */
export type SubmitTarget = { node: string } | { waitingReason: string };

/** Result of {@link TaskStore.transition}. */
export type TransitionResult =
  | { ok: true; epoch: number; attempt: number; eventJson: string; task?: StoredTask | undefined }
  | { ok: false; reason: "stale_epoch"; epoch: number }
  | { ok: false; reason: "wrong_state"; state: string }
  | { ok: false; reason: "not_found" };

/** A state change of one task, fenced by its epoch. See `lua/transition-4.lua`. */
export interface Transition {
  expectedEpoch?: number;
  from: readonly string[];
  to: string;
  /** New node, or `null` to clear it; unchanged when absent. */
  node?: string | null;
  source?: { kind: "zset" | "set"; key: string };
  /** Where the task goes; a task that ends (dead-lettered aside) goes to the finished index by default. */
  target?: { key: string; score: number };
  bumpEpoch?: boolean;
  attemptDelta?: number;
  reason?: string;
  attemptRecord?: Record<string, unknown>;
  /** Fields to set; `""` deletes one. */
  fields?: Record<string, string | number>;
  /** Also read the task back after the change (one round trip instead of two). */
  returnTask?: boolean;
  /**
   * With `returnTask`: how many events the task's history held when the caller's own copy of the task
   * hash was last in step (see {@link applyTransition}). Every state change records one, so the task
   * comes back only when a change the caller did not make came in between; otherwise the caller applies
   * this change to its copy.
   */
  knownEvents?: number;
  now: number;
}

const TEMPLATE_ID = "{{id}}";
const EVENTS_CAP = 200;
/** The ends retention counts as finished: a dead-lettered task is kept by a rule of its own. */
export const FINISHED_STATES: readonly string[] = TERMINAL_STATES.filter(
  (state) => state !== "dead_lettered",
);
const FINISHED: ReadonlySet<string> = new Set(FINISHED_STATES);

/** What {@link TaskStore.appendOutput} stored: chunks whole, and the one cut at the byte cap, if any. */
export interface StoredOutput {
  whole: number;
  /** The data stored for the chunk that crossed the byte cap: its first part and the marker line. */
  cut?: string;
}

/** Which tasks {@link TaskStore.forget} deletes from an index: the due oldest, or the ids given. */
export type ForgetSelection =
  | { cutoff: number | undefined; keep: number | undefined; batch: number }
  | { ids: readonly string[] };
/**
 * The coordinator's view of Redis: every task state change is one Lua script (see `lua/`), so a crash at
 * any point leaves Redis consistent and a restarted coordinator can carry on from it.
 */
export class TaskStore {
  private readonly scripts: ScriptRunner;
  private readonly taskTemplate: string;
  private readonly eventsTemplate: string;

  constructor(
    readonly redis: Redis,
    readonly keys: StoreKeys,
    private readonly options: {
      idempotencyTtlSeconds: number;
      outputCap: number;
      /** Request ids of the script batches (see {@link ScriptSafetyOptions}); tests fix them. */
      requestId?: () => string;
      maxOutputBytes?: number;
      /** The waiting list's cap: a submit that would wait beyond it is refused (E_QUEUE_FULL). */
      maxWaiting?: number;
    },
  ) {
    const safety: ScriptSafetyOptions = {
      fenceKey: keys.fence(),
      replyKey: (requestId) => keys.reply(requestId),
    };
    if (options.requestId) safety.requestId = options.requestId;
    this.scripts = new ScriptRunner(redis, safety);
    this.taskTemplate = keys.task(TEMPLATE_ID);
    this.eventsTemplate = keys.taskEvents(TEMPLATE_ID);
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
    return reply[0] === 0
      ? { duplicate: false, taskId: id, state: String(input.fields.state) }
      : { duplicate: true, taskId: reply[1], state: reply[2] ?? "unknown" };
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
    for (let i = 0; i + 5 < flat.length; i += 6) {
      leases.push({
        taskId: String(flat[i]),
        epoch: Number(flat[i + 1]),
        attempt: Number(flat[i + 2]),
        specJson: String(flat[i + 3]),
        eventJson: String(flat[i + 4]),
        seqFrom: Number(flat[i + 5]) || 0,
      });
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
        const result: TransitionResult = {
          ok: true,
          epoch: Number(reply[1]),
          attempt: Number(reply[2]),
          eventJson: String(reply[3]),
        };
        if (typeof reply[4] === "string")
          result.task = decodeTask(JSON.parse(reply[4]) as Record<string, string>);
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

  /** Reads a task, or `undefined` when there is none. */
  async getTask(taskId: string): Promise<StoredTask | undefined> {
    const hash = await this.redis.hgetall(this.keys.task(taskId));
    return decodeTask(hash);
  }

  /** Reads many tasks in one round trip, skipping missing ones. */
  async getTasks(taskIds: readonly string[]): Promise<StoredTask[]> {
    if (taskIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of taskIds) pipeline.hgetall(this.keys.task(id));
    const replies = (await pipeline.exec()) ?? [];
    const tasks: StoredTask[] = [];
    for (const [error, hash] of replies) {
      if (error) continue;
      const task = decodeTask(hash as Record<string, string>);
      if (task) tasks.push(task);
    }
    return tasks;
  }

  /** The newest tasks first. */
  async recentTaskIds(limit: number): Promise<string[]> {
    return await this.redis.zrevrange(this.keys.allTasks(), "0", String(limit - 1));
  }

  /** Queued task ids of a node, in dispatch order. */
  async queuedIds(node: string, limit = -1): Promise<string[]> {
    return await this.redis.zrange(this.keys.queue(node), "0", String(limit < 0 ? -1 : limit - 1));
  }

  /** Queue lengths of several nodes in one round trip. */
  async queueDepths(nodes: readonly string[]): Promise<Map<string, number>> {
    const depths = new Map<string, number>();
    if (nodes.length === 0) return depths;
    const pipeline = this.redis.pipeline();
    for (const node of nodes) pipeline.zcard(this.keys.queue(node));
    const replies = (await pipeline.exec()) ?? [];
    nodes.forEach((node, index) => {
      depths.set(node, Number(replies[index]?.[1] ?? 0));
    });
    return depths;
  }

  /**
   * How many tasks are in each unfinished state (and dead-lettered), and how many of those not yet leased
   * (queued on a node, or waiting for one) have each priority, read from the queues and running sets of
   * `nodes` and each listed task's own hash. Two pipelined round trips, and one `HMGET` per task not yet
   * ended: for `/metrics`, not for a hot path.
   */
  async census(nodes: readonly string[]): Promise<TaskCensus> {
    const lists = this.redis.pipeline();
    for (const node of nodes) {
      lists.zrange(this.keys.queue(node), "0", "-1");
      lists.smembers(this.keys.running(node));
    }
    lists.zrange(this.keys.waiting(), "0", "-1");
    lists.zrange(this.keys.delayed(), "0", "-1");
    lists.zcard(this.keys.deadLetters());
    const replies = (await lists.exec()) ?? [];
    const ids = new Set<string>();
    for (let i = 0; i < replies.length - 1; i += 1) {
      const [error, members] = replies[i] as [Error | null, string[]];
      if (!error) for (const id of members) ids.add(id);
    }
    const states: Record<string, number> = {};
    const priorities: Record<string, number> = {};
    const listed = [...ids];
    for (let at = 0; at < listed.length; at += CENSUS_CHUNK) {
      const chunk = listed.slice(at, at + CENSUS_CHUNK);
      const reads = this.redis.pipeline();
      for (const id of chunk) reads.hmget(this.keys.task(id), "state", "priority");
      for (const [error, fields] of (await reads.exec()) ?? []) {
        if (error) continue;
        const [state, priority] = fields as [string | null, string | null];
        // An id whose task ended between the two reads, or an entry left behind, is not counted.
        if (state === null || !LISTED_STATES.has(state)) continue;
        states[state] = (states[state] ?? 0) + 1;
        if ((state === "queued" || state === "waiting") && priority !== null)
          priorities[priority] = (priorities[priority] ?? 0) + 1;
      }
    }
    const dead = replies.at(-1) as [Error | null, number] | undefined;
    states.dead_lettered = dead && !dead[0] ? Number(dead[1]) : 0;
    return { states, priorities };
  }

  /** Ids of the tasks leased to a node. */
  async runningIds(node: string): Promise<string[]> {
    return await this.redis.smembers(this.keys.running(node));
  }

  /** Task ids of a zset (waiting, delayed, dlq) whose score is at most `maxScore`. */
  async dueIds(key: string, maxScore: number, limit: number): Promise<string[]> {
    return await this.redis.zrangebyscore(key, "-inf", maxScore, "LIMIT", 0, limit);
  }

  /** Output chunks of a task from `fromSeq` on, in order. */
  async readOutput(taskId: string, fromSeq = 0): Promise<StoredChunk[]> {
    const entries = await this.redis.xrange(this.keys.taskOutput(taskId), "-", "+");
    const chunks: StoredChunk[] = [];
    for (const [, values] of entries) {
      const record: Record<string, string> = {};
      for (let i = 0; i + 1 < values.length; i += 2) record[values[i] as string] = values[i + 1] as string;
      const seq = Number(record.seq);
      if (seq < fromSeq) continue;
      const chunk: StoredChunk = {
        seq,
        stream: record.stream === "stderr" ? "stderr" : "stdout",
        data: record.data ?? "",
      };
      if (record.epoch !== undefined) chunk.epoch = Number(record.epoch);
      chunks.push(chunk);
    }
    return chunks;
  }

  /** Dead-lettered task ids, the most recent first: `limit` of them, or all. */
  async deadLetterIds(limit?: number): Promise<string[]> {
    const last = limit === undefined ? "-1" : String(limit - 1);
    return await this.redis.zrevrange(this.keys.deadLetters(), "0", last);
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
    return { forgotten: Number(reply[0]), more: Number(reply[1]) === 1 };
  }

  /** The stored state-change history of a task, oldest first. */
  async readEvents(taskId: string): Promise<unknown[]> {
    const raw = await this.redis.lrange(this.keys.taskEvents(taskId), 0, -1);
    return raw.map((line) => JSON.parse(line) as unknown);
  }
}

function numberField(hash: Record<string, string>, field: string, fallback = 0): number {
  const value = hash[field];
  return value === undefined || value === "" ? fallback : Number(value);
}

/**
 * The task hash after `change`, worked out as `lua/transition-4.lua` writes it from the hash before it
 * (numbers may still be numbers) and the epoch and attempt the script returned. For a caller that keeps
 * its own copy of the hash; a change that appends an attempt record (which the script encodes) is not
 * for this.
 */
export function applyTransition(
  hash: Readonly<Record<string, string | number>>,
  change: Transition,
  result: { epoch: number; attempt: number },
): Record<string, string> {
  if (change.attemptRecord) throw new Error("applyTransition: attempt records are written by the script");
  // Numbers as Redis holds them: in decimal, as they were sent.
  const next: Record<string, string> = {};
  for (const field in hash) next[field] = String(hash[field]);
  next.state = change.to;
  next.updatedAt = String(change.now);
  next.epoch = String(result.epoch);
  next.attempt = String(result.attempt);
  if (change.node === null) delete next.node;
  else if (change.node !== undefined) next.node = change.node;
  const fields = change.fields;
  if (fields) {
    for (const field in fields) {
      const value = fields[field] as string | number;
      if (value === "") delete next[field];
      else next[field] = String(value);
    }
  }
  return next;
}

/** Decodes a task hash; `undefined` for an empty hash (no such task). */
export function decodeTask(hash: Record<string, string>): StoredTask | undefined {
  if (hash.id === undefined) return undefined;
  const task: StoredTask = {
    id: hash.id,
    spec: hash.spec === undefined ? undefined : (JSON.parse(hash.spec) as unknown),
    state: hash.state ?? "unknown",
    priority: hash.priority ?? "normal",
    epoch: numberField(hash, "epoch"),
    attempt: numberField(hash, "attempt"),
    maxAttempts: numberField(hash, "maxAttempts", 1),
    createdAt: numberField(hash, "createdAt"),
    updatedAt: numberField(hash, "updatedAt"),
    score: numberField(hash, "score"),
    fields: hash,
  };
  if (hash.node !== undefined && hash.node !== "") task.node = hash.node;
  return task;
}
