/**
 * The bulk stage of `pnpm bench:e2e`: call tasks submitted with `client.submitMany` (batches of up to
 * 1000, each one frame and one script call) until every one has run, beside BullMQ's `addBulk` with a
 * worker doing the same nothing, in the same run on the same machine. BullMQ is the peer a job queue on
 * Redis is measured against; it runs from this package's devDependency on a redis-server of its own
 * (no append-only file, as the fleet's Redis in this bench), its worker in this process with as many
 * jobs in flight as the call stage keeps (`CALLS_IN_FLIGHT`), and completed jobs removed.
 */
import type { FlotillaClient } from "@flotilla/client";
import { startRedisServer } from "@flotilla/launcher";
import type { TaskSpecInput } from "@flotilla/protocol";
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";

const BATCH = 1000;

/** Polls `check` every 5 ms until it is true. */
async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 5));
}

/** Tasks a second: `count` call tasks submitted in batches, from the first submit until the last ended. */
export async function flotillaBulkRate(
  client: FlotillaClient,
  fleet: { redisUrl: string; prefix: string },
  count: number,
): Promise<number> {
  const redis = new Redis(fleet.redisUrl);
  // Every task that ends joins the fleet's `tasks:finished`.
  const finished = `${fleet.prefix === "" ? "" : `${fleet.prefix}:`}tasks:finished`;
  try {
    const base = await redis.zcard(finished);
    const spec: TaskSpecInput = { kind: "call", handler: "noop" };
    const specs = Array.from({ length: count }, () => spec);
    const started = performance.now();
    const results = await client.submitMany(specs, { batchSize: BATCH });
    const refused = results.filter((result) => !result.ok);
    if (refused.length > 0)
      throw new Error(`${refused.length} bulk tasks refused: ${JSON.stringify(refused[0])}`);
    await until(async () => (await redis.zcard(finished)) - base >= count);
    return count / ((performance.now() - started) / 1000);
  } finally {
    redis.disconnect();
  }
}

/** BullMQ's figure for the same: `addBulk` in batches, a worker with `concurrency` jobs in flight. */
export async function bullmqBulkRate(count: number, concurrency: number): Promise<number> {
  const server = await startRedisServer({ appendOnly: false });
  const connection = { host: "127.0.0.1", port: server.port, maxRetriesPerRequest: null };
  const queue = new Queue("bench", { connection });
  let completed = 0;
  const worker = new Worker("bench", async (job) => job.data ?? null, { connection, concurrency });
  worker.on("completed", () => {
    completed += 1;
  });
  try {
    await worker.waitUntilReady();
    const started = performance.now();
    const adds: Promise<unknown>[] = [];
    for (let first = 0; first < count; first += BATCH) {
      const size = Math.min(BATCH, count - first);
      adds.push(
        queue.addBulk(
          Array.from({ length: size }, () => ({ name: "noop", data: {}, opts: { removeOnComplete: true } })),
        ),
      );
    }
    await Promise.all(adds);
    await until(async () => completed >= count);
    return count / ((performance.now() - started) / 1000);
  } finally {
    await worker.close();
    await queue.close();
    await server.dispose();
  }
}
