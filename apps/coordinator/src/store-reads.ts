/**
 * Reading the fleet's tasks from Redis: one task or many, the indexes (recent, queued, running, due,
 * dead-lettered), queue depths, a census by state and priority, output and history. `TaskReads` changes
 * nothing; `TaskStore` (`store.ts`), which makes every change, extends it, so callers hold one store.
 */
import type { RedisClient } from "./redis-connection.js";
import {
  decodeTask,
  type StoredChunk,
  type StoredTask,
  type StoreKeys,
  type TaskCensus,
} from "./store-records.js";

/** Entries read per queue when looking for the longest-waiting task. */
const OLDEST_CANDIDATES = 512;
/** Task hashes read per pipeline by a census. */
const CENSUS_CHUNK = 1000;
/** The states a census reports: every unfinished one, and dead-lettered (ended ones are counters). */
export const CENSUS_STATES = ["waiting", "queued", "leased", "running", "dead_lettered"] as const;
/** Those read from each listed task's hash (dead-lettered ones are the size of their queue). */
const LISTED_STATES = new Set<string>(CENSUS_STATES.filter((state) => state !== "dead_lettered"));

/** The store's reads (see the module header). */
export class TaskReads {
  constructor(
    readonly redis: RedisClient,
    readonly keys: StoreKeys,
  ) {}

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
   * (queued on a node, or waiting for one) have each priority and since when the oldest of them has
   * waited, read from the queues and running sets of `nodes` and each listed task's own hash. Two
   * pipelined round trips, and one `HMGET` per task not yet ended: for `/metrics` and the history
   * samples, not for a hot path.
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
    let oldest = Number.POSITIVE_INFINITY;
    for (let at = 0; at < listed.length; at += CENSUS_CHUNK) {
      const chunk = listed.slice(at, at + CENSUS_CHUNK);
      const reads = this.redis.pipeline();
      for (const id of chunk) reads.hmget(this.keys.task(id), "state", "priority", "queuedAt", "createdAt");
      for (const [error, fields] of (await reads.exec()) ?? []) {
        if (error) continue;
        const [state, priority, queuedAt, createdAt] = fields as (string | null)[];
        // An id whose task ended between the two reads, or an entry left behind, is not counted.
        if (state === null || state === undefined || !LISTED_STATES.has(state)) continue;
        states[state] = (states[state] ?? 0) + 1;
        if (state !== "queued" && state !== "waiting") continue;
        if (priority) priorities[priority] = (priorities[priority] ?? 0) + 1;
        const since = Number(queuedAt || createdAt);
        if (since > 0 && !(since >= oldest)) oldest = since;
      }
    }
    const dead = replies.at(-1) as [Error | null, number] | undefined;
    states.dead_lettered = dead && !dead[0] ? Number(dead[1]) : 0;
    return Number.isFinite(oldest)
      ? { states, priorities, oldestWaitingSince: oldest }
      : { states, priorities };
  }

  /**
   * Since when the longest-waiting task not yet leased has waited, read from the heads of the node queues
   * and the waiting list rather than from every task. A queue's score is `queuedAt` plus at most
   * `maxPriorityDelayMs` (less for critical tasks and deadlines), so the oldest task of a queue scores no
   * more than its head's `queuedAt + maxPriorityDelayMs`: only those entries are read, at most
   * `OLDEST_CANDIDATES` per queue. The waiting list is scored by when each task's wait ends, which
   * follows its submit time only as far as tasks share a `maxWait`: its first `OLDEST_CANDIDATES` are
   * read. Three pipelined round trips, O(log n) each in queued tasks.
   */
  async oldestWaitingSince(
    nodes: readonly string[],
    maxPriorityDelayMs: number,
  ): Promise<number | undefined> {
    const queues = [...nodes.map((node) => this.keys.queue(node)), this.keys.waiting()];
    const heads = this.redis.pipeline();
    for (const queue of queues) heads.zrange(queue, "0", "0");
    const headIds = ((await heads.exec()) ?? []).map(([error, ids]) =>
      error ? undefined : (ids as string[])[0],
    );
    const since = await this.queuedSince(headIds.filter((id): id is string => id !== undefined));
    const candidates = this.redis.pipeline();
    const read: string[] = [];
    const waiting = this.keys.waiting();
    queues.forEach((queue, index) => {
      if (queue === waiting) {
        candidates.zrange(queue, "0", String(OLDEST_CANDIDATES - 1));
        read.push(queue);
        return;
      }
      const head = headIds[index];
      const headSince = head === undefined ? undefined : since.get(head);
      if (headSince === undefined) return;
      candidates.zrangebyscore(queue, "-inf", headSince + maxPriorityDelayMs, "LIMIT", 0, OLDEST_CANDIDATES);
      read.push(queue);
    });
    if (read.length === 0) return undefined;
    const ids = new Set<string>();
    for (const [error, members] of (await candidates.exec()) ?? [])
      if (!error) for (const id of members as string[]) ids.add(id);
    let oldest: number | undefined;
    for (const at of (await this.queuedSince([...ids])).values())
      if (oldest === undefined || at < oldest) oldest = at;
    return oldest;
  }

  /** `queuedAt` (else `createdAt`) of each listed task still waiting for a lease. */
  private async queuedSince(ids: readonly string[]): Promise<Map<string, number>> {
    const since = new Map<string, number>();
    if (ids.length === 0) return since;
    const reads = this.redis.pipeline();
    for (const id of ids) reads.hmget(this.keys.task(id), "state", "queuedAt", "createdAt");
    ((await reads.exec()) ?? []).forEach(([error, fields], index) => {
      if (error) return;
      const [state, queuedAt, createdAt] = fields as (string | null)[];
      if (state !== "queued" && state !== "waiting") return;
      const at = Number(queuedAt || createdAt);
      if (at > 0) since.set(ids[index] as string, at);
    });
    return since;
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

  /** The stored state-change history of a task, oldest first. */
  async readEvents(taskId: string): Promise<unknown[]> {
    const raw = await this.redis.lrange(this.keys.taskEvents(taskId), 0, -1);
    return raw.map((line) => JSON.parse(line) as unknown);
  }
}
