/**
 * CPU per task of a real agent, measured in its own process, against plain spawning.
 *
 *   pnpm --filter @flotilla/node-agent bench:cpu
 *
 * The parent plays the coordinator (test/test-coordinator.ts) and assigns tasks as fast as slots free;
 * the agent runs in a child process so its CPU (all threads, not the `true` processes it starts) is
 * measured alone. One JSON line per figure:
 *   raw        a plain Node process spawning `true` SLOTS at a time (stdio ignored, like bench:e2e's
 *              raw_spawn_per_s; and with the executor's two pipes and own process group)
 *   agent      exec `true` and call `noop` through the agent: tasks/s, CPU µs per task (the agent's
 *              process and its spawn helper; split out as agent_process_us and helper_process_us), the
 *              agent's event-loop delay p99 (ms) while it ran, and frames per task it sent
 *
 * Env: BENCH_COUNT (exec tasks, default 1000; call tasks are 10x), BENCH_SLOTS (default 6),
 * BENCH_KINDS (default "exec,call"), BENCH_SPAWNER (helper, the default: the native helper where built; node-helper; worker; inline), BENCH_PROFILE=dir writes V8 CPU profiles of the agent child there.
 */
import { type ChildProcess, fork, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import type { TaskSpec } from "@flotilla/protocol";
import { pino } from "pino";
import { createAgent } from "../src/agent.js";
import { defaultSpawner, HelperSpawner, inlineSpawner, type Spawner, WorkerSpawner } from "../src/spawner.js";
import { TestCoordinator } from "../test/test-coordinator.js";

const COUNT = Number(process.env.BENCH_COUNT ?? 1000);
const SPAWNERS: Record<string, Spawner> = {
  helper: defaultSpawner(),
  "node-helper": new HelperSpawner({ nativeHelper: false }),
  worker: new WorkerSpawner(),
  inline: inlineSpawner,
};
const SLOTS = Number(process.env.BENCH_SLOTS ?? 6);

type Request = { op: "mark" } | { op: "raw"; count: number; pipes: boolean };
interface Report {
  cpuUs: number;
  p99Ms: number;
  perS?: number;
  rssMb: number;
  /** Minor page faults of the whole process so far. */
  faults: number;
  /** CPU µs used so far by live child processes (the spawn helper; tasks are its children, not ours). */
  childCpuUs: number;
  /** CPU µs by thread (Linux). */
  threads: Record<string, number>;
}

function cpuUs(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/** CPU µs used so far by a process (Linux; 0 elsewhere or when it is gone). */
function processCpuUs(pid: number | string): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return 0;
  }
}

/** CPU µs used so far by this process's live children (Linux; 0 elsewhere). */
function childrenCpuUs(): number {
  let sum = 0;
  try {
    for (const tid of readdirSync("/proc/self/task")) {
      const children = readFileSync(`/proc/self/task/${tid}/children`, "utf8").trim();
      for (const pid of children === "" ? [] : children.split(" ")) sum += processCpuUs(pid);
    }
  } catch {
    // Not Linux.
  }
  return sum;
}

/** CPU µs used so far by each thread of this process ("main", or "thread-<tid>"), from /proc (empty elsewhere). */
function threadCpuUs(): Record<string, number> {
  const out: Record<string, number> = {};
  try {
    for (const tid of readdirSync("/proc/self/task")) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
      const name = Number(tid) === process.pid ? "main" : `thread-${tid}`;
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out[name] = (out[name] ?? 0) + (Number(fields[11]) + Number(fields[12])) * 10_000;
    }
  } catch {
    // Not Linux: no breakdown.
  }
  return out;
}

function mark(extra: Partial<Report> = {}): Report {
  return {
    cpuUs: cpuUs(),
    p99Ms: 0,
    rssMb: process.memoryUsage.rss() / 1e6,
    faults: process.resourceUsage().minorPageFault,
    childCpuUs: childrenCpuUs(),
    threads: threadCpuUs(),
    ...extra,
  };
}

/** The child: an agent (argv coordinator url) or a raw spawner, answering `mark` with its CPU and loop delay. */
async function child(role: string, url: string | undefined): Promise<void> {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  if (role === "agent") {
    const agent = createAgent({
      coordinatorUrl: String(url),
      token: "test-token",
      id: "bench",
      slots: SLOTS,
      logger: pino({ level: "warn" }, pino.destination(2)),
      handlers: { noop: async (payload) => payload ?? null },
      stealIdleMs: 60_000,
      spawner: SPAWNERS[process.env.BENCH_SPAWNER ?? "helper"] ?? defaultSpawner(),
    });
    await agent.start();
    process.on("disconnect", () => void agent.stop({ now: true }).then(() => process.exit(0)));
  }
  delay.enable();
  process.on("message", (request: Request) => {
    if (request.op === "mark") {
      const report = mark({ p99Ms: delay.percentile(99) / 1e6 });
      delay.reset();
      process.send?.(report);
      return;
    }
    void rawSpawns(request.count, request.pipes).then((ms) => {
      process.send?.(mark({ p99Ms: delay.percentile(99) / 1e6, perS: (request.count / ms) * 1000 }));
    });
  });
  process.send?.(mark());
}

async function rawSpawns(count: number, pipes: boolean): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      await new Promise<void>((resolve, reject) => {
        if (!pipes) {
          const c = spawn("true", [], { stdio: "ignore" });
          c.once("error", reject);
          c.once("exit", () => resolve());
          return;
        }
        const c = spawn("true", [], { stdio: ["ignore", "pipe", "pipe"], detached: true });
        c.once("error", reject);
        c.stdout?.resume();
        c.stderr?.resume();
        c.once("close", () => resolve());
      });
    }
  };
  await Promise.all(Array.from({ length: SLOTS }, worker));
  return performance.now() - t0;
}

function startChild(role: string, url?: string): ChildProcess {
  const profile = process.env.BENCH_PROFILE;
  return fork(fileURLToPath(import.meta.url), ["--child", role, ...(url === undefined ? [] : [url])], {
    execArgv: [
      ...process.execArgv,
      ...(profile !== undefined && role === "agent" ? ["--cpu-prof", "--cpu-prof-dir", profile] : []),
    ],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
}

function ask(proc: ChildProcess, request?: Request): Promise<Report> {
  return new Promise((resolve) => {
    proc.once("message", (report: Report) => resolve(report));
    if (request !== undefined) proc.send(request);
  });
}

function print(record: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

const round = (value: number, digits = 0): number => Number(value.toFixed(digits));

/** CPU µs per task by thread, threads that used less than 1 µs per task left out. */
function threadsPerTask(before: Report, after: Report, count: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, used] of Object.entries(after.threads)) {
    const perTask = round((used - (before.threads[name] ?? 0)) / count);
    if (perTask >= 1) out[name] = perTask;
  }
  return out;
}

async function main(): Promise<void> {
  for (const pipes of [false, true]) {
    const raw = startChild("raw");
    await ask(raw);
    await ask(raw, { op: "raw", count: 50, pipes });
    const before = await ask(raw, { op: "mark" });
    const after = await ask(raw, { op: "raw", count: COUNT, pipes });
    print({
      bench: "raw",
      stdio: pipes ? "pipes+group" : "ignore",
      per_s: round(after.perS ?? 0),
      cpu_us_per_task: round((after.cpuUs - before.cpuUs) / COUNT),
      loop_p99_ms: round(after.p99Ms, 2),
      rss_mb: round(after.rssMb),
      faults_per_task: round((after.faults - before.faults) / COUNT),
      threads: threadsPerTask(before, after, COUNT),
    });
    raw.kill();
  }

  const coordinator = await TestCoordinator.start();
  const agent = startChild("agent", coordinator.url);
  await ask(agent);
  await coordinator.waitFor("agent.hello");
  let nextTask = 0;
  const run = async (kind: "exec" | "call", count: number): Promise<void> => {
    const spec: TaskSpec =
      kind === "exec"
        ? { kind: "exec", argv: ["true"], priority: "normal" }
        : { kind: "call", handler: "noop", payload: { n: 1 }, priority: "normal" };
    coordinator.received.length = 0;
    let assigned = 0;
    let finished = 0;
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      const assignNext = (): void => {
        if (assigned >= count) return;
        assigned++;
        coordinator.send("task.assign", { taskId: `${kind}-${++nextTask}`, epoch: 1, attempt: 1, spec });
      };
      coordinator.onMessage = (message) => {
        if (message.type === "task.reject") throw new Error(`rejected: ${message.reason}`);
        if (message.type !== "task.finish") return;
        if (message.outcome !== "succeeded") throw new Error(`task ended ${message.outcome}`);
        finished++;
        if (finished >= count) resolve();
        else assignNext();
      };
      for (let i = 0; i < SLOTS; i++) assignNext();
    });
    return void (performance.now() - t0);
  };

  const kinds = (process.env.BENCH_KINDS ?? "exec,call").split(",");
  for (const [kind, count] of [
    ["exec", COUNT],
    ["call", COUNT * 10],
  ] as const) {
    if (!kinds.includes(kind)) continue;
    await run(kind, Math.min(100, count));
    const before = await ask(agent, { op: "mark" });
    const t0 = performance.now();
    await run(kind, count);
    const ms = performance.now() - t0;
    // The helper's last frames of the run may still be on their way: its CPU counts once it is idle.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const after = await ask(agent, { op: "mark" });
    const frames = coordinator.received.filter((m) => m.type !== "heartbeat").length;
    const own = (after.cpuUs - before.cpuUs) / count;
    const helper = (after.childCpuUs - before.childCpuUs) / count;
    print({
      bench: "agent",
      kind,
      per_s: round((count / ms) * 1000),
      cpu_us_per_task: round(own + helper),
      agent_process_us: round(own),
      helper_process_us: round(helper),
      loop_p99_ms: round(after.p99Ms, 2),
      frames_per_task: round(frames / count, 2),
      rss_mb: round(after.rssMb),
      faults_per_task: round((after.faults - before.faults) / count),
      threads: threadsPerTask(before, after, count),
    });
  }
  coordinator.onMessage = undefined;
  agent.disconnect();
  await new Promise((resolve) => agent.once("exit", resolve));
  await coordinator.close();
}

const at = process.argv.indexOf("--child");
if (at >= 0) await child(String(process.argv[at + 1]), process.argv[at + 2]);
else await main();
