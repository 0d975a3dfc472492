/**
 * Spawn throughput and event-loop stalls of the executor.
 *
 *   pnpm --filter @flotilla/node-agent bench
 *
 * Prints one JSON line per figure:
 *   raw_spawn_per_s     plain child_process.spawn("true"), CONCURRENCY at a time
 *   exec_spawn_per_s    the same through startExec (process group, pipes, batching, redaction, /proc
 *                       sampling) with the default spawner (the native spawn helper where it was built;
 *                       `path` says which); node_helper_value: through the Node.js helper; worker_value:
 *                       with the worker-thread spawner; inline_value: spawning on the agent's own thread
 *   agent_loop_block    event-loop delay (p50/p99/max, ms) of the agent's thread while the executor spawns,
 *                       sampled by perf_hooks.monitorEventLoopDelay at 1 ms resolution; worker_p99_ms,
 *                       inline_p99_ms and raw_p99_ms: the same with the other spawners, for comparison
 *   spawn_call_ms       how long one spawn call holds the agent's thread (its synchronous part)
 *   fingerprint_ms      collectFingerprint() cold (first call: OS, CPU, memory, disk, docker) and warm
 *                       (cached hardware; disk and docker asked again)
 *   agent_tasks_per_s   end to end through a real agent session: assign -> accept -> run -> finish over
 *                       WebSocket against an in-process coordinator double
 */
import { spawn } from "node:child_process";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { pino } from "pino";
import { createAgent } from "../src/agent.js";
import { startExec } from "../src/exec.js";
import { collectFingerprint } from "../src/fingerprint.js";
import { defaultSpawner, HelperSpawner, inlineSpawner, type Spawner, WorkerSpawner } from "../src/spawner.js";
import { TestCoordinator } from "../test/test-coordinator.js";

const COUNT = Number(process.env.BENCH_COUNT ?? 500);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);

async function pool(count: number, concurrency: number, job: () => Promise<unknown>): Promise<number> {
  let started = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (started < count) {
      started++;
      await job();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return performance.now() - t0;
}

/** Duration of the synchronous part of each spawn call: the time the event loop is really held. */
const syncCostMs: Record<"raw" | "exec" | "node" | "worker" | "inline", number[]> = {
  raw: [],
  exec: [],
  node: [],
  worker: [],
  inline: [],
};

/**
 * Plain spawn with the executor's stdio (two pipes, own group), finished on 'close'. With `stdio: "ignore"`
 * and 'exit' the figure is meaningless here: libuv reaps a child that exits at once and runs the next spawn
 * in the same loop phase, so timers starve for the whole run and the delay monitor records nothing.
 */
function rawSpawn(): Promise<void> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn("true", { stdio: ["ignore", "pipe", "pipe"], detached: true });
    syncCostMs.raw.push(performance.now() - t0);
    child.on("error", reject);
    child.stdout?.resume();
    child.stderr?.resume();
    child.on("close", () => resolve());
  });
}

function execSpawnOn(spawner: Spawner, costs: number[]): () => Promise<void> {
  return async () => {
    const t0 = performance.now();
    const handle = startExec({ argv: ["true"] }, { spawner });
    costs.push(performance.now() - t0);
    const result = await handle.done;
    if (result.outcome !== "succeeded") throw new Error(`true ended ${result.outcome}`);
  };
}
const execSpawn = execSpawnOn(defaultSpawner(), syncCostMs.exec);
const execNodeSpawn = execSpawnOn(new HelperSpawner({ nativeHelper: false }), syncCostMs.node);
const execWorkerSpawn = execSpawnOn(new WorkerSpawner(), syncCostMs.worker);
const execInlineSpawn = execSpawnOn(inlineSpawner, syncCostMs.inline);

function print(record: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

async function measureLoop(job: () => Promise<unknown>) {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const ms = await pool(COUNT, CONCURRENCY, job);
  histogram.disable();
  const toMs = (ns: number) => Math.round(ns / 1e4) / 100;
  return {
    ms,
    p50: toMs(histogram.percentile(50)),
    p99: toMs(histogram.percentile(99)),
    max: toMs(histogram.max),
  };
}

async function agentTasksPerSecond(): Promise<number> {
  const coordinator = await TestCoordinator.start();
  const agent = createAgent({
    coordinatorUrl: coordinator.url,
    token: coordinator.token,
    id: "bench",
    slots: CONCURRENCY,
    logger: pino({ level: "silent" }),
    stealIdleMs: 60_000,
  });
  await agent.start();
  let assigned = 0;
  let finished = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const assignNext = (): void => {
      if (assigned >= COUNT) return;
      assigned++;
      coordinator.send("task.assign", {
        taskId: `b${assigned}`,
        epoch: 1,
        attempt: 1,
        spec: { kind: "exec", argv: ["true"] },
      });
    };
    coordinator.onMessage = (message) => {
      if (message.type !== "task.finish") return;
      finished++;
      if (finished >= COUNT) resolve();
      else assignNext();
    };
    for (let i = 0; i < CONCURRENCY; i++) assignNext();
  });
  const ms = performance.now() - t0;
  await agent.stop({ now: true });
  await coordinator.close();
  return (COUNT / ms) * 1000;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const value = sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
  return Math.round(value * 100) / 100;
}

// The fingerprint first, while nothing is cached: what an agent pays at start, then on every later call.
const fp0 = performance.now();
await collectFingerprint();
const fpCold = performance.now() - fp0;
const fp1 = performance.now();
await collectFingerprint();
const fpWarm = performance.now() - fp1;
print({ bench: "fingerprint_ms", cold: Math.round(fpCold), warm: Math.round(fpWarm) });

// Warm-up: the first spawns pay for loading and JIT.
await pool(20, 4, rawSpawn);
await pool(20, 4, execSpawn);
await pool(20, 4, execNodeSpawn);
await pool(20, 4, execWorkerSpawn);
await pool(20, 4, execInlineSpawn);
for (const costs of Object.values(syncCostMs)) costs.length = 0;

const raw = await measureLoop(rawSpawn);
const exec = await measureLoop(execSpawn);
const nodeHelper = await measureLoop(execNodeSpawn);
const worker = await measureLoop(execWorkerSpawn);
const inline = await measureLoop(execInlineSpawn);
const perSecond = (ms: number) => Math.round((COUNT / ms) * 1000);
print({ bench: "raw_spawn_per_s", value: perSecond(raw.ms), count: COUNT, concurrency: CONCURRENCY });
print({
  bench: "exec_spawn_per_s",
  value: perSecond(exec.ms),
  path: defaultSpawner().path,
  node_helper_value: perSecond(nodeHelper.ms),
  worker_value: perSecond(worker.ms),
  inline_value: perSecond(inline.ms),
});
print({
  bench: "agent_loop_block",
  p50_ms: exec.p50,
  p99_ms: exec.p99,
  max_ms: exec.max,
  node_helper_p99_ms: nodeHelper.p99,
  worker_p99_ms: worker.p99,
  inline_p99_ms: inline.p99,
  raw_p99_ms: raw.p99,
});
print({
  bench: "spawn_call_ms",
  raw_p50: percentile(syncCostMs.raw, 50),
  raw_p99: percentile(syncCostMs.raw, 99),
  exec_p50: percentile(syncCostMs.exec, 50),
  exec_p99: percentile(syncCostMs.exec, 99),
  node_helper_p50: percentile(syncCostMs.node, 50),
  node_helper_p99: percentile(syncCostMs.node, 99),
  worker_p50: percentile(syncCostMs.worker, 50),
  worker_p99: percentile(syncCostMs.worker, 99),
  inline_p50: percentile(syncCostMs.inline, 50),
  inline_p99: percentile(syncCostMs.inline, 99),
});
print({
  bench: "agent_tasks_per_s",
  value: Math.round(await agentTasksPerSecond()),
  count: COUNT,
  slots: CONCURRENCY,
});
