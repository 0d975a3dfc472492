import { startRedis } from "@flotilla/testing";
import { Redis } from "ioredis";
import { coordinatorKeys } from "../src/keys.js";
import { TaskStore } from "../src/store.js";

/**
 * What Redis and the coordinator's store code spend on the life of one `call` task, without sockets to
 * agents or clients: submit (with the idempotency key the client adds), lease, and a finish whose
 * submitter waits for the record. Rounds of `BATCH` tasks go through each step together, as they do
 * under load (one batch script per step). Prints one JSON line per setting.
 *
 * `pnpm --filter @flotilla/coordinator bench`; `BENCH_REDIS_URL` runs it against a Redis of yours (one
 * started under `valgrind --tool=callgrind`, say, to count its instructions per task), which it leaves as
 * it found it but for this run's keys (prefix `flbench-<pid>`) (kept too with `BENCH_CLEANUP=0`).
 */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 300);
/** Batch sizes to run, e.g. `BENCH_BATCHES=64`. */
const BATCHES = (process.env.BENCH_BATCHES ?? "16,64").split(",").map(Number);
const WARMUP_ROUNDS = 50;
const NODE = "bench-1";
/** A prefix of this run's own, so a Redis given with `BENCH_REDIS_URL` keeps every other key. */
const PREFIX = `flbench-${process.pid}`;
/** `BENCH_STEPS=s` stops after the submit, `sl` after the lease: the difference of two runs is one step. */
const STEPS = process.env.BENCH_STEPS ?? "slf";
/**
 * `BENCH_WAITER=0`: no submitter waits, so the finish does not return the record. By default one waits,
 * and the finish does what the coordinator does: a task leased in its submit script has its record kept
 * by the coordinator, which Redis then need not send back; a task leased later has it read back.
 * `BENCH_WAITER=read` reads it back always (as the coordinator did before it kept the record).
 */
const waiterMode = process.env.BENCH_WAITER ?? "1";
const waiter = waiterMode !== "0";
/**
 * `BENCH_DIRECT=1`: each submit leases its task at once (as the coordinator does when the node has room
 * and nothing queued), so there is no lease step.
 */
const direct = process.env.BENCH_DIRECT === "1";

async function redisCpuMs(redis: Redis): Promise<number> {
  const info = await redis.info("cpu");
  const field = (name: string): number => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return (field("used_cpu_user") + field("used_cpu_sys")) * 1000;
}

let counter = 0;

async function lifeOf(store: TaskStore, batch: number, spec: string): Promise<void> {
  const now = Date.now();
  const ids: string[] = [];
  const submits: Promise<unknown>[] = [];
  for (let i = 0; i < batch; i += 1) {
    counter += 1;
    const id = `t-${now.toString(36)}-${counter.toString(36)}`;
    ids.push(id);
    submits.push(
      store.submit({
        id,
        fields: {
          id,
          spec,
          state: direct ? "leased" : "queued",
          priority: "normal",
          epoch: direct ? 1 : 0,
          attempt: direct ? 1 : 0,
          ...(direct ? { leasedAt: now } : {}),
          maxAttempts: 3,
          createdAt: now,
          updatedAt: now,
          submitter: "bench-client",
          maxWaitAt: now + 300_000,
          node: NODE,
          queuedAt: now,
          score: now,
        },
        idempotencyKey: `bench-client:${id}`,
        target: { node: NODE },
        score: now,
        event: JSON.stringify({ taskId: id, state: "queued", at: now, attempt: 0, epoch: 0, node: NODE }),
        now,
        leaseEvent: direct
          ? JSON.stringify({
              taskId: id,
              state: "leased",
              previous: "queued",
              at: now,
              node: NODE,
              attempt: 1,
              epoch: 1,
            })
          : undefined,
      }),
    );
  }
  await Promise.all(submits);
  if (STEPS === "s") return;
  const leases = direct
    ? ids.map((taskId) => ({ taskId, epoch: 1 }))
    : (await store.lease(NODE, batch, now)).leases;
  if (leases.length !== batch) throw new Error(`leased ${leases.length} of ${batch}`);
  if (STEPS === "sl") return;
  const kept = waiter && direct && waiterMode !== "read";
  const finishes = leases.map((lease) =>
    store.transition(lease.taskId, {
      expectedEpoch: lease.epoch,
      from: ["leased", "running"],
      to: "succeeded",
      source: { kind: "set", key: `running:${NODE}` },
      fields: { finishedAt: now, startedAt: now, exitCode: "", signal: "", durationMs: 0, result: "null" },
      reason: "",
      returnTask: waiter,
      // The submit recorded two events (queued, leased).
      ...(kept ? { knownEvents: 2 } : {}),
      now,
    }),
  );
  for (const result of await Promise.all(finishes)) {
    if (!result.ok || (waiter && !kept && result.task === undefined)) throw new Error("a finish failed");
  }
}

const server = process.env.BENCH_REDIS_URL ? undefined : await startRedis();
const redis = new Redis(process.env.BENCH_REDIS_URL ?? (server as { url: string }).url);
try {
  const keys = coordinatorKeys(PREFIX);
  const store = new TaskStore(redis, keys.store, { idempotencyTtlSeconds: 3600, outputCap: 1000 });
  await store.preload();
  const spec = JSON.stringify({ kind: "call", handler: "noop", priority: "normal" });
  for (const batch of BATCHES) {
    for (let round = 0; round < WARMUP_ROUNDS; round += 1) await lifeOf(store, batch, spec);
    const redisBefore = await redisCpuMs(redis);
    const ownBefore = process.cpuUsage();
    const started = performance.now();
    for (let round = 0; round < ROUNDS; round += 1) await lifeOf(store, batch, spec);
    const seconds = (performance.now() - started) / 1000;
    const own = process.cpuUsage(ownBefore);
    const tasks = ROUNDS * batch;
    const redisMs = (await redisCpuMs(redis)) - redisBefore;
    process.stdout.write(
      `${JSON.stringify({
        bench: "store",
        what: "submit + lease + finish of one call task",
        batch,
        tasks,
        tasks_per_s: Math.round(tasks / seconds),
        redis_cpu_us_per_task: Number(((redisMs * 1000) / tasks).toFixed(1)),
        coordinator_cpu_us_per_task: Number(((own.user + own.system) / tasks).toFixed(1)),
      })}\n`,
    );
  }
} finally {
  if (server === undefined && process.env.BENCH_CLEANUP !== "0") {
    // SCAN, not KEYS: the Redis may be serving others, which one long KEYS would stall.
    for await (const batch of redis.scanStream({ match: `${PREFIX}:*`, count: 1000 })) {
      const found = batch as string[];
      if (found.length > 0) await redis.del(...found);
    }
  }
  redis.disconnect();
  await server?.dispose();
}
