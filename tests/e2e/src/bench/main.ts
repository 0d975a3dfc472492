import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { connect, type FlotillaClient } from "@flotilla/client";
import { type BinSpec, nodeBin, startLocalFleet, startService } from "@flotilla/launcher";
import type { TaskSpecInput } from "@flotilla/protocol";
import { builtCoordinatorBin } from "@flotilla/testing";
import { Redis } from "ioredis";
import WebSocket from "ws";
import { bullmqBulkRate, flotillaBulkRate } from "./bulk.js";
import { cpuMsOf, percentile, print, round } from "./stats.js";

/**
 * End-to-end benchmarks: Redis, the coordinator and three agents as separate processes on this machine,
 * driven by one client. Prints one JSON line per figure. `pnpm bench:e2e`
 */
const AGENTS = 3;
const SLOTS = 2;
/**
 * Calls the throughput run keeps in flight (`BENCH_IN_FLIGHT`): enough that the cores are never idle
 * waiting on each other (at 256 they were, 16-19% of the run), fewer than the three agents may hold (2
 * slots and up to 256 held ahead each), so most submits lease their task at once instead of queueing it.
 * At 1,024, about a quarter did.
 */
const CALLS_IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 512);

/** Runs `raw-spawn.mjs` in a plain Node.js process and returns what it printed. */
function rawSpawn(args: readonly string[]): Promise<{ samples?: number[]; per_s?: number }> {
  const script = fileURLToPath(new URL("./raw-spawn.mjs", import.meta.url));
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script, ...args], (error, stdout) => {
      if (error) reject(error);
      else resolve(JSON.parse(stdout) as { samples?: number[]; per_s?: number });
    });
  });
}

/** Latency of one spawn of `true` at a time in a plain Node.js process: what an exec costs without Flotilla. */
async function rawSpawnLatency(count: number): Promise<number[]> {
  return (await rawSpawn(["latency", String(count)])).samples ?? [];
}

async function roundTrips(
  client: FlotillaClient,
  kind: "call" | "exec",
  count: number,
  measure: <T>(work: () => Promise<T>) => Promise<T> = (work) => work(),
): Promise<number> {
  const spec: TaskSpecInput =
    kind === "call" ? { kind: "call", handler: "noop" } : { kind: "exec", argv: ["true"] };
  // Warm up first, as for the throughput runs. One task at a time takes other paths than many in flight
  // (a batch of one, a lease straight from the submit), so the warm-up is sequential too.
  await throughput(client, kind, quick ? 500 : 2000, 32);
  const warmup = await warmUp("lower", async () => {
    const times: number[] = [];
    for (let i = 0; i < WARMUP_ROUND / 8; i += 1) {
      const started = performance.now();
      await (await client.submit(spec)).result();
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    return percentile(times, 50);
  });
  const samples: number[] = [];
  await measure(async () => {
    for (let i = 0; i < count; i += 1) {
      const started = performance.now();
      const result = await (await client.submit(spec)).result();
      samples.push(performance.now() - started);
      if (result.state !== "succeeded") throw new Error(`${kind} round trip ended ${result.state}`);
    }
  });
  samples.sort((a, b) => a - b);
  print({
    bench: "roundtrip",
    kind,
    tasks: count,
    p50_ms: round(percentile(samples, 50)),
    p99_ms: round(percentile(samples, 99)),
    warmup_tasks: warmup * (WARMUP_ROUND / 8),
  });
  return percentile(samples, 50);
}

async function throughput(
  client: FlotillaClient,
  kind: "call" | "exec",
  count: number,
  window: number,
): Promise<number> {
  const spec: TaskSpecInput =
    kind === "call" ? { kind: "call", handler: "noop" } : { kind: "exec", argv: ["true"] };
  let next = 0;
  let failed = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < count) {
      next += 1;
      const result = await (await client.submit(spec)).result();
      if (result.state !== "succeeded") failed += 1;
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
  const seconds = (performance.now() - started) / 1000;
  if (failed > 0) throw new Error(`${failed} ${kind} tasks did not succeed`);
  return count / seconds;
}

/** How fast one plain Node.js process spawns `true`, with as many in flight as the fleet has slots. */
async function rawSpawnRate(count: number, concurrency: number): Promise<number> {
  return (await rawSpawn(["rate", String(count), String(concurrency)])).per_s ?? 0;
}

/**
 * Read and write system calls a process has made so far, and the bytes it wrote with them (sockets
 * included); undefined where /proc is not there.
 */
function ioOf(pid: number): { calls: number; written: number } | undefined {
  try {
    const io = readFileSync(`/proc/${pid}/io`, "utf8");
    const field = (name: string) => Number(new RegExp(`${name}: (\\d+)`).exec(io)?.[1]);
    return { calls: field("syscr") + field("syscw"), written: field("wchar") };
  } catch {
    return undefined;
  }
}

/** Per-task differences of two readings (`scale` converts units). */
function perTask(
  before: Record<string, number | undefined>,
  after: Record<string, number | undefined>,
  tasks: number,
  scale: number,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, value] of Object.entries(after)) {
    const start = before[name];
    if (value !== undefined && start !== undefined) out[name] = round(((value - start) * scale) / tasks, 1);
  }
  return out;
}

/**
 * Runs `work` and reports how much CPU each process of the fleet spent per task on it, how many read and
 * write system calls it made per task (each one costs; batching is what saves them) and how many bytes
 * it wrote per task (on loopback, the sender pays for the receiver's side of TCP too).
 */
async function withCpu<T>(
  label: string,
  tasks: number,
  pids: Record<string, number[]>,
  work: () => Promise<T>,
): Promise<T> {
  const read = (): Record<string, number | undefined> => {
    const totals: Record<string, number | undefined> = {};
    for (const [name, list] of Object.entries(pids)) {
      let sum: number | undefined = 0;
      for (const pid of list) {
        const used = cpuMsOf(pid);
        sum = used === undefined || sum === undefined ? undefined : sum + used;
      }
      totals[name] = sum;
    }
    const own = process.cpuUsage();
    totals.client = (own.user + own.system) / 1000;
    return totals;
  };
  const io = (which: "calls" | "written"): Record<string, number | undefined> => {
    const totals: Record<string, number | undefined> = {};
    for (const [name, list] of Object.entries({ ...pids, client: [process.pid] })) {
      let sum: number | undefined = 0;
      for (const pid of list) {
        const used = ioOf(pid)?.[which];
        sum = used === undefined || sum === undefined ? undefined : sum + used;
      }
      totals[name] = sum;
    }
    return totals;
  };
  const before = read();
  const callsBefore = io("calls");
  const writtenBefore = io("written");
  const result = await work();
  const cpu = perTask(before, read(), tasks, 1000);
  const syscalls = perTask(callsBefore, io("calls"), tasks, 1);
  const written = perTask(writtenBefore, io("written"), tasks, 1);
  if (Object.keys(cpu).length > 1) {
    print({
      bench: "cpu",
      during: label,
      cpu_us_per_task: cpu,
      syscalls_per_task: syscalls,
      bytes_written_per_task: written,
    });
  }
  return result;
}

/**
 * The floor on this machine: two Node.js processes bouncing one small frame over a WebSocket, 256 in
 * flight. A `call` task needs four such hops (client, coordinator, agent, coordinator, client) and two
 * Redis scripts, so its throughput cannot pass about a quarter of this rate.
 */
async function echoCeiling(count: number): Promise<void> {
  const bin = nodeBin(fileURLToPath(new URL("./echo.ts", import.meta.url)), import.meta.resolve("tsx"));
  let port = 0;
  const server = await startService({
    name: "echo",
    command: bin.command,
    args: bin.args,
    ready: /echo ready \d+/,
    onLine: (line) => {
      const match = /echo ready (\d+)/.exec(line);
      if (match) port = Number(match[1]);
    },
  });
  try {
    const socket = new WebSocket(`ws://127.0.0.1:${port}`);
    await new Promise((resolve, reject) => {
      socket.once("open", resolve);
      socket.once("error", reject);
    });
    const frame = JSON.stringify({
      v: 1,
      type: "task.submit",
      id: "echo",
      from: "bench",
      spec: { kind: "call", handler: "noop" },
    });
    const serverBefore = cpuMsOf(server.pid);
    const clientBefore = process.cpuUsage();
    const started = performance.now();
    let sent = 0;
    let received = 0;
    await new Promise<void>((resolve) => {
      socket.on("message", () => {
        received += 1;
        if (received === count) resolve();
        else if (sent < count) {
          sent += 1;
          socket.send(frame);
        }
      });
      for (; sent < Math.min(256, count); sent += 1) socket.send(frame);
    });
    const seconds = (performance.now() - started) / 1000;
    const serverAfter = cpuMsOf(server.pid);
    const client = process.cpuUsage(clientBefore);
    socket.close();
    print({
      bench: "ceiling",
      what: "WebSocket echo between two Node.js processes, 256 in flight",
      frames_per_s: Math.round(count / seconds),
      cpu_us_per_echo: {
        ...(serverBefore === undefined || serverAfter === undefined
          ? {}
          : { server: round(((serverAfter - serverBefore) * 1000) / count, 1) }),
        client: round((client.user + client.system) / count, 1),
      },
    });
  } finally {
    await server.stop();
  }
}

const quick = process.argv.includes("--quick");
/** Tasks in one warm-up round of a throughput run (an eighth of it for exec and for one at a time). */
const WARMUP_ROUND = quick ? 1000 : 4000;

/**
 * Runs warm-up rounds until the figure `runRound` returns stops getting better by more than 3% (at least 2
 * rounds, at most 10), and returns how many ran. Each process compiles its hot paths in background threads
 * over the first tens of thousands of tasks, and each kind of work (a batch, one task at a time, an exec)
 * takes paths of its own: after a fixed 4,000 calls the coordinator's compiler threads still used 8% of
 * the machine during the measured calls, and each call cost the coordinator 110 µs and the agents 53 µs
 * of CPU against 90 and 31 once warm (call throughput 5,800-6,200/s against 7,100-7,250/s). The figures
 * are meant to be what a fleet that has been up for a while does.
 */
async function warmUp(better: "higher" | "lower", runRound: () => Promise<number>): Promise<number> {
  const sign = better === "higher" ? 1 : -1;
  let best = await runRound();
  for (let rounds = 2; rounds <= (quick ? 2 : 10); rounds += 1) {
    const figure = await runRound();
    const gain = (sign * (figure - best)) / best;
    if (sign * (figure - best) > 0) best = figure;
    if (gain <= 0.03) return rounds;
  }
  return quick ? 2 : 10;
}
/** `--only a,b`: run only these stages (ceiling, roundtrip, call, bulk, exec), e.g. to profile one of them. */
const onlyAt = process.argv.indexOf("--only");
const STAGES = ["ceiling", "roundtrip", "call", "bulk", "exec"] as const;
const only = new Set(onlyAt < 0 ? STAGES : String(process.argv[onlyAt + 1]).split(","));
for (const stage of only) {
  if (!(STAGES as readonly string[]).includes(stage)) {
    process.stderr.write(`--only takes ${STAGES.join(", ")}; got ${stage}\n`);
    process.exit(2);
  }
}
/** `--hold`: after the fleet is up, print its pids and wait for Enter before the stages (to attach a tracer). */
const hold = process.argv.includes("--hold");
/** `--profile DIR`: the coordinator and the agents write V8 CPU profiles there when they stop. */
const profileAt = process.argv.indexOf("--profile");
const profiled = (bin: BinSpec): BinSpec =>
  profileAt < 0
    ? bin
    : {
        command: bin.command,
        args: ["--cpu-prof", "--cpu-prof-dir", String(process.argv[profileAt + 1]), ...bin.args],
      };
const agentLoopLines: { p99_ms: number; spawn_path: string }[] = [];
const fleet = await startLocalFleet({
  coordinatorBin: profiled(builtCoordinatorBin()),
  // This file is TypeScript, but without the `source` condition what it imports is the built package.
  agentBin: profiled({
    command: process.execPath,
    args: ["--import", import.meta.resolve("tsx"), fileURLToPath(new URL("./agent.ts", import.meta.url))],
  }),
  agents: Array.from({ length: AGENTS }, (_, index) => ({ id: `bench-${index + 1}`, slots: SLOTS })),
  coordinatorArgs: ["--log-level", "warn"],
  redis: { appendOnly: false },
  onLine: (_name, line) => {
    if (line.startsWith('{"agentLoopDelay"'))
      agentLoopLines.push(
        (JSON.parse(line) as { agentLoopDelay: { p99_ms: number; spawn_path: string } }).agentLoopDelay,
      );
  },
});
const client = await connect({ url: fleet.url, token: fleet.token, requestTimeoutMs: 120_000 });
const redisInfo = new Redis(fleet.redisUrl);
const redisPid = Number(/process_id:(\d+)/.exec(await redisInfo.info("server"))?.[1] ?? -1);
redisInfo.disconnect();
const pids: Record<string, number[]> = {
  coordinator: [fleet.coordinator.pid],
  agents: [...fleet.agents.values()].map((agent) => agent.pid),
  redis: [redisPid],
};
try {
  if (hold) {
    process.stderr.write(`${JSON.stringify({ pids })}\npress Enter to start\n`);
    await new Promise((resolve) => process.stdin.once("data", resolve));
  }
  if (only.has("ceiling")) await echoCeiling(quick ? 4000 : 20_000);
  if (only.has("roundtrip")) await latencies();
  if (only.has("call")) await callThroughput();
  if (only.has("bulk")) await bulkThroughput();
  if (only.has("exec")) await execThroughput();
} finally {
  client.close();
  await fleet.stop();
}

async function latencies(): Promise<void> {
  const sequential = quick ? 200 : 1000;
  // One task at a time: what each process spends per task when nothing can be batched (50 warm-ups too).
  await roundTrips(client, "call", sequential, (work) => withCpu("call round trips", sequential, pids, work));
  const execP50 = await roundTrips(client, "exec", quick ? 200 : 1000);
  const raw = await rawSpawnLatency(quick ? 200 : 1000);
  print({
    bench: "dispatch_overhead",
    kind: "exec",
    raw_spawn_p50_ms: round(percentile(raw, 50)),
    exec_roundtrip_p50_ms: round(execP50),
    added_p50_ms: round(execP50 - percentile(raw, 50)),
  });
}

async function callThroughput(): Promise<void> {
  const warmup = await warmUp("higher", () => throughput(client, "call", WARMUP_ROUND, CALLS_IN_FLIGHT));
  const callTasks = quick ? 4000 : 20_000;
  const callRate = await withCpu("call throughput", callTasks, pids, () =>
    throughput(client, "call", callTasks, CALLS_IN_FLIGHT),
  );
  print({
    bench: "throughput",
    kind: "call",
    tasks: quick ? 4000 : 20_000,
    tasks_per_s: Math.round(callRate),
    warmup_tasks: warmup * WARMUP_ROUND,
  });
  // The agents' loop delay under a full fleet's load with no spawning at all: the baseline for the exec
  // stage's figure (how much of that is the machine being busy, how much the spawns). A run of its own
  // after the measured one, since the monitor's 1 ms timer is load too.
  const loop = await agentLoopDelay(() => throughput(client, "call", quick ? 2000 : 8000, CALLS_IN_FLIGHT));
  print({ bench: "agent_loop_block", during: "call throughput", p99_ms: loop.p99_ms });
}

/** Call tasks submitted in batches, beside BullMQ's `addBulk` in the same run (see `bulk.ts`). */
async function bulkThroughput(): Promise<void> {
  const tasks = quick ? 4000 : 20_000;
  // One warm-up of each, then the measured runs, alternating so both see the same machine.
  await flotillaBulkRate(client, fleet, quick ? 1000 : 4000);
  await bullmqBulkRate(quick ? 1000 : 4000, CALLS_IN_FLIGHT);
  const rate = await flotillaBulkRate(client, fleet, tasks);
  const bullmq = await bullmqBulkRate(tasks, CALLS_IN_FLIGHT);
  print({
    bench: "bulk",
    kind: "call",
    tasks,
    batch: 1000,
    tasks_per_s: Math.round(rate),
    bullmq_tasks_per_s: Math.round(bullmq),
    ratio: round(rate / bullmq, 2),
  });
}

/**
 * The agents' event-loop delay while `work` runs: the highest of their p99s (ms), and how they spawned
 * commands. Each agent measures between two SIGUSR2s (see `agent.ts`).
 */
async function agentLoopDelay(work: () => Promise<unknown>): Promise<{ p99_ms: number; spawnPaths: string }> {
  for (const agent of fleet.agents.values()) agent.signal("SIGUSR2");
  await new Promise((resolve) => setTimeout(resolve, 200));
  agentLoopLines.length = 0;
  await work();
  for (const agent of fleet.agents.values()) agent.signal("SIGUSR2");
  for (let i = 0; i < 100 && agentLoopLines.length < fleet.agents.size; i++)
    await new Promise((resolve) => setTimeout(resolve, 20));
  return {
    p99_ms: round(Math.max(0, ...agentLoopLines.map((line) => line.p99_ms)), 2),
    spawnPaths: [...new Set(agentLoopLines.map((line) => line.spawn_path))].join(", "),
  };
}

async function execThroughput(): Promise<void> {
  const execTasks = quick ? 500 : 2000;
  let warmup = 0;
  let execRate = 0;
  // The loop delay covers the warm-up and the measured run; the raw spawn rate is taken after it.
  const loop = await agentLoopDelay(async () => {
    warmup = await warmUp("higher", () => throughput(client, "exec", WARMUP_ROUND / 8, 256));
    execRate = await withCpu("exec throughput", execTasks, pids, () =>
      throughput(client, "exec", execTasks, 256),
    );
  });
  const rawRate = await rawSpawnRate(quick ? 500 : 2000, AGENTS * SLOTS);
  print({
    bench: "throughput",
    kind: "exec",
    tasks: quick ? 500 : 2000,
    tasks_per_s: Math.round(execRate),
    raw_spawn_per_s: Math.round(rawRate),
    ratio: round(execRate / rawRate, 2),
    spawn_path: loop.spawnPaths,
    warmup_tasks: warmup * (WARMUP_ROUND / 8),
  });
  print({ bench: "agent_loop_block", during: "exec throughput", p99_ms: loop.p99_ms });
}
