import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { connect, type FlotillaClient } from "@flotilla/client";
import { nodeBin, startLocalFleet } from "@flotilla/launcher";
import { coordinatorBin } from "@flotilla/testing";
import { Redis } from "ioredis";

/**
 * The retention soak (`pnpm soak [--tasks N] [--keep K]`): Redis, the coordinator and three agents as
 * separate processes, N call tasks (200,000 by default) through them with at most K finished tasks kept
 * (10,000), and Redis's `used_memory` along the way. Once retention applies, memory must stay flat.
 *
 * It prints one `retention_soak` line: memory after the fleet started and a warm-up (`before`), at the
 * end once retention has caught up (`after`), and the bytes each finished task kept costs (memory with K
 * kept, less that of the fleet with none, over K). `retention_soak_progress` lines show memory every
 * 50,000 tasks; `retention_soak_check` what the end would be at the warm-up's cost per task, and how
 * far apart the readings taken once retention applied are.
 */
const { values } = parseArgs({
  options: { tasks: { type: "string" }, keep: { type: "string" } },
  strict: true,
});
const TASKS = Number(values.tasks ?? 200_000);
const KEEP = Number(values.keep ?? 10_000);
if (!(Number.isInteger(TASKS) && TASKS > 0 && Number.isInteger(KEEP) && KEEP > 0)) {
  process.stderr.write("--tasks and --keep take whole numbers above 0\n");
  process.exit(2);
}
/** Tasks run before `before` is read: fewer than KEEP, so none of them is forgotten by then. */
const WARMUP = Math.min(2000, Math.floor(KEEP / 2));
const IN_FLIGHT = 512;
const PROGRESS_EVERY = 50_000;

function print(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

async function usedMemory(redis: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.info("memory"))?.[1] ?? Number.NaN);
}

/** Runs `count` call tasks, `IN_FLIGHT` at a time; `onDone` hears of each one that ended. */
async function run(client: FlotillaClient, count: number, onDone: (done: number) => Promise<void>) {
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next += 1;
      const result = await (await client.submit({ kind: "call", handler: "noop" })).result();
      if (result.state !== "succeeded") throw new Error(`a soak task ended ${result.state}`);
      done += 1;
      await onDone(done);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
}

const fleet = await startLocalFleet({
  coordinatorBin: coordinatorBin(),
  agentBin: nodeBin(fileURLToPath(new URL("./agent.ts", import.meta.url)), import.meta.resolve("tsx")),
  agents: Array.from({ length: 3 }, (_, index) => ({ id: `soak-${index + 1}`, slots: 2 })),
  coordinatorArgs: ["--log-level", "warn", "--retention-max-finished", String(KEEP)],
  redis: { appendOnly: false },
});
const redis = new Redis(fleet.redisUrl);
const finishedKey = `${fleet.prefix}:tasks:finished`;
const client = await connect({ url: fleet.url, token: fleet.token, requestTimeoutMs: 120_000 });
try {
  const empty = await usedMemory(redis);
  await run(client, WARMUP, async () => {});
  const before = await usedMemory(redis);
  const started = performance.now();
  /** Memory at each progress line once retention applied (the kept count at its cap). */
  const retained: number[] = [];
  await run(client, TASKS, async (done) => {
    if (done % PROGRESS_EVERY !== 0) return;
    const memory = await usedMemory(redis);
    const kept = await redis.zcard(finishedKey);
    if (kept >= KEEP) retained.push(memory);
    print({ bench: "retention_soak_progress", tasks: done, redis_used_memory: memory, finished_kept: kept });
  });
  const seconds = (performance.now() - started) / 1000;
  // The sweep forgets in batches: wait until it has caught up with the last tasks.
  const deadline = Date.now() + 60_000;
  while ((await redis.zcard(finishedKey)) > KEEP) {
    if (Date.now() > deadline) throw new Error("retention did not catch up within 60 s");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const kept = await redis.zcard(finishedKey);
  const after = await usedMemory(redis);
  const perTask = Math.round((after - empty) / kept);
  print({
    bench: "retention_soak",
    tasks: TASKS,
    redis_used_memory_before: before,
    redis_used_memory_after: after,
    bytes_per_finished_task: perTask,
  });
  retained.push(after);
  print({
    bench: "retention_soak_check",
    kept,
    redis_used_memory_empty: empty,
    // What the warm-up's tasks cost each, to set against bytes_per_finished_task.
    bytes_per_task_at_warmup: Math.round((before - empty) / WARMUP),
    expected_after: before + (kept - WARMUP) * Math.round((before - empty) / WARMUP),
    // Spread of the readings taken once retention applied: flat memory keeps it small.
    retained_spread_bytes: Math.max(...retained) - Math.min(...retained),
    tasks_per_s: Math.round(TASKS / seconds),
  });
} finally {
  client.close();
  redis.disconnect();
  await fleet.stop();
}
