import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { connect, type FlotillaClient } from "@flotilla/client";
import { type BinSpec, type LocalFleet, nodeBin, startLocalFleet } from "@flotilla/launcher";
import { builtCoordinatorBin, coordinatorBin } from "@flotilla/testing";
import { Redis } from "ioredis";
import { cpuMsOf, percentile, print, round, rssMbOf } from "./stats.js";

/**
 * The scale proof (`pnpm bench:scale [--agents N] [--max-queued Q] [--per-process K] [--window-s S]
 * [--task-ms T] [--sample-dispatches D] [--profile DIR] [--source]`): its own Redis, the coordinator as a process of its own and N agents (200
 * by default, K to a process, each with its own WebSocket connection and heartbeat, one slot, nothing held
 * ahead), whose one call handler waits at a gate (`scale-agents.ts`).
 *
 * With every agent busy at the closed gate, it queues 1,000, then 10,000, then 100,000 tasks (those up to
 * `--max-queued`) and at each level reads the coordinator's RSS, its CPU per heartbeat over an idle window
 * (nothing but heartbeats and the sweeps), and Redis's memory per queued task; then it opens the gate and
 * times each dispatch (an agent's end of one task, each running T ms, to the start of its next) for D
 * dispatches or half the level, whichever is fewer, and closes it again. Last, with the top level queued, it kills the coordinator with SIGKILL,
 * starts a new one and times its start to the first task an agent starts.
 */
const { values } = parseArgs({
  options: {
    agents: { type: "string" },
    "max-queued": { type: "string" },
    "per-process": { type: "string" },
    "window-s": { type: "string" },
    "task-ms": { type: "string" },
    "sample-dispatches": { type: "string" },
    profile: { type: "string" },
    source: { type: "boolean" },
  },
  strict: true,
});
const AGENTS = Number(values.agents ?? 200);
const MAX_QUEUED = Number(values["max-queued"] ?? 100_000);
const PER_PROCESS = Number(values["per-process"] ?? 25);
const WINDOW_MS = Number(values["window-s"] ?? 10) * 1000;
/**
 * How long each task runs once the gate is open (500 ms): 200 agents then free a slot 400 times a second,
 * a load the coordinator keeps up with, so a dispatch's time is that of the decision and not of a queue
 * of finish reports (with tasks of no length, 200 agents saturate it and each waits its turn).
 */
const TASK_MS = Number(values["task-ms"] ?? 500);
/** Dispatches timed at each level (at most half the level, so the queue stays near it). */
const SAMPLES = Number(values["sample-dispatches"] ?? 5000);
const numbers = [AGENTS, MAX_QUEUED, PER_PROCESS, WINDOW_MS, TASK_MS + 1, SAMPLES];
if (!numbers.every((value) => Number.isInteger(value) && value > 0)) {
  process.stderr.write(
    "--agents, --max-queued, --per-process, --window-s, --sample-dispatches take whole numbers above 0 (--task-ms 0 or more)\n",
  );
  process.exit(2);
}
const LEVELS = [1_000, 10_000, 100_000].filter((level) => level <= MAX_QUEUED);
if (LEVELS.length === 0) LEVELS.push(MAX_QUEUED);
const SUBMITS_IN_FLIGHT = 512;
const HEARTBEAT_MS = 1000;

interface AgentsReport {
  samples: number[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `check` holds, polling; throws after `timeoutMs`. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const profiled = (bin: BinSpec): BinSpec =>
  values.profile === undefined
    ? bin
    : { command: bin.command, args: ["--cpu-prof", "--cpu-prof-dir", values.profile, ...bin.args] };

const processes = Math.ceil(AGENTS / PER_PROCESS);
let reports: AgentsReport[] = [];
let firstStarts: number[] = [];
const fleet: LocalFleet = await startLocalFleet({
  coordinatorBin: profiled(values.source ? coordinatorBin() : builtCoordinatorBin()),
  agentBin: nodeBin(fileURLToPath(new URL("./scale-agents.ts", import.meta.url)), import.meta.resolve("tsx")),
  agents: Array.from({ length: processes }, (_, index) => ({
    id: `scale${index + 1}`,
    args: [
      "--count",
      String(Math.min(PER_PROCESS, AGENTS - index * PER_PROCESS)),
      "--task-ms",
      String(TASK_MS),
    ],
  })),
  coordinatorArgs: ["--log-level", "warn", "--heartbeat-ms", String(HEARTBEAT_MS)],
  redis: { appendOnly: false },
  readyTimeoutMs: 120_000,
  onLine: (_name, line) => {
    if (line.startsWith('{"scaleAgents"'))
      reports.push((JSON.parse(line) as { scaleAgents: AgentsReport }).scaleAgents);
    if (line.startsWith('{"scaleFirstStart"'))
      firstStarts.push((JSON.parse(line) as { scaleFirstStart: number }).scaleFirstStart);
  },
});
const redis = new Redis(fleet.redisUrl);
const metricsUrl = `${fleet.coordinatorUrls[0]?.replace(/^ws/, "http")}/metrics`;
const client: FlotillaClient = await connect({
  url: fleet.url,
  token: fleet.token,
  requestTimeoutMs: 120_000,
});

/** Tasks in one state, as the coordinator's `/metrics` counts them. */
async function tasksIn(state: "queued" | "running" | "leased"): Promise<number> {
  const response = await fetch(metricsUrl, { headers: { authorization: `Bearer ${fleet.token}` } });
  const body = await response.text();
  return Number(new RegExp(`^flotilla_tasks\\{state="${state}"\\} (\\d+)`, "m").exec(body)?.[1] ?? 0);
}

async function usedMemory(): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.info("memory"))?.[1] ?? Number.NaN);
}

/** Calls of one Redis command so far (`INFO commandstats`). */
async function commandCalls(command: string): Promise<number> {
  const stats = await redis.info("commandstats");
  return Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
}

/** Submits `count` gated tasks, `SUBMITS_IN_FLIGHT` at a time, waiting only for each acknowledgement. */
async function submit(count: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next += 1;
      await client.submit({ kind: "call", handler: "hold" });
    }
  };
  await Promise.all(Array.from({ length: SUBMITS_IN_FLIGHT }, worker));
}

/**
 * Tops the queue up to `level` tasks (a few more may be dispatched while the gate closes, so it checks
 * again after each round of submits).
 */
async function fillTo(level: number): Promise<number> {
  for (;;) {
    const queued = await tasksIn("queued");
    if (queued >= level) return queued;
    await submit(level - queued);
  }
}

/** Signals every agent process. */
function signalAgents(signal: NodeJS.Signals): void {
  for (const agent of fleet.agents.values()) agent.signal(signal);
}

/** Closes the gate and gathers each agent process's report. */
async function closeGate(): Promise<AgentsReport[]> {
  reports = [];
  signalAgents("SIGUSR2");
  await until("every agent process's report", async () => reports.length === fleet.agents.size, 30_000);
  return reports;
}

/**
 * Coordinator CPU per heartbeat over an idle window, and heartbeats handled per second: every heartbeat
 * reads its node's running set with one SCARD, which nothing else sends once the coordinator is up (SETs
 * would count more: Lua scripts' own calls show in the command statistics too).
 */
async function heartbeatCost(): Promise<{ cpuUsPerHeartbeat: number; heartbeatsPerS: number }> {
  const pid = fleet.coordinator.pid;
  const cpuBefore = cpuMsOf(pid) ?? Number.NaN;
  const setsBefore = await commandCalls("scard");
  const started = performance.now();
  await sleep(WINDOW_MS);
  const beats = (await commandCalls("scard")) - setsBefore;
  const seconds = (performance.now() - started) / 1000;
  const cpu = (cpuMsOf(pid) ?? Number.NaN) - cpuBefore;
  return {
    cpuUsPerHeartbeat: round((cpu * 1000) / Math.max(1, beats), 1),
    heartbeatsPerS: round(beats / seconds, 1),
  };
}

/**
 * Recovery: the top level queued, the coordinator killed; the agents' held tasks end meanwhile (their
 * reports wait for the new coordinator), so the first task started after the restart is a new dispatch.
 */
async function recovery(): Promise<void> {
  const top = LEVELS[LEVELS.length - 1] as number;
  await until("every agent busy again", async () => (await tasksIn("running")) >= AGENTS, 60_000);
  await fillTo(top);
  const killed = fleet.coordinator;
  killed.signal("SIGKILL");
  await killed.exited;
  firstStarts = [];
  signalAgents("SIGUSR1");
  const restartedAt = Date.now();
  await fleet.restartCoordinator();
  const readyMs = Date.now() - restartedAt;
  await until("a dispatch after the restart", async () => firstStarts.length > 0, 120_000);
  print({
    bench: "scale_recovery",
    queued: top,
    first_dispatch_ms: Math.min(...firstStarts) - restartedAt,
    coordinator_ready_ms: readyMs,
  });
  await closeGate();
}

try {
  await sleep(2000); // the joins' registry writes settle first
  const idle = await heartbeatCost();
  print({
    bench: "scale_idle",
    agents: AGENTS,
    coordinator_rss_mb: round(rssMbOf(fleet.coordinator.pid) ?? Number.NaN, 1),
    coordinator_cpu_us_per_heartbeat: idle.cpuUsPerHeartbeat,
    heartbeats_per_s: idle.heartbeatsPerS,
  });
  // Every agent takes one task and holds it at the closed gate: what is submitted next stays queued.
  const emptyMemory = await usedMemory();
  await submit(AGENTS);
  await until("every agent busy", async () => (await tasksIn("running")) >= AGENTS, 120_000);
  for (const level of LEVELS) {
    const queued = await fillTo(level);
    const bytesPerTask = ((await usedMemory()) - emptyMemory) / (queued + AGENTS);
    const cost = await heartbeatCost();
    const rss = rssMbOf(fleet.coordinator.pid) ?? Number.NaN;
    signalAgents("SIGUSR1");
    const stopAt = queued - Math.min(SAMPLES, Math.floor(level / 2));
    await until(`dispatches at ${level}`, async () => (await tasksIn("queued")) <= stopAt, 600_000);
    const samples = (await closeGate()).flatMap((report) => report.samples).sort((a, b) => a - b);
    print({
      bench: "scale",
      agents: AGENTS,
      queued: level,
      dispatch_p50_ms: round(percentile(samples, 50)),
      dispatch_p99_ms: round(percentile(samples, 99)),
      coordinator_rss_mb: round(rss, 1),
      coordinator_cpu_us_per_heartbeat: cost.cpuUsPerHeartbeat,
      redis_bytes_per_task: Math.round(bytesPerTask),
      heartbeats_per_s: cost.heartbeatsPerS,
      dispatches: samples.length,
    });
  }
  // A coordinator killed with SIGKILL writes no profile: a profiled run leaves the recovery stage out.
  if (values.profile === undefined) await recovery();
} finally {
  client.close();
  redis.disconnect();
  await fleet.stop();
}
